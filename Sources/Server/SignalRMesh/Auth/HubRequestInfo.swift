/// What a ``UserIdProvider`` may look at: the HTTP request that opened a hub connection (negotiate, or the
/// WebSocket connect when negotiation is skipped) and the claims of its validated token.
///
/// - Important: `headers` and `query` are the request's own, so they can hold the bearer token
///   (`Authorization`, `access_token`). Never log them whole.
public struct HubRequestInfo: Sendable {
    /// The claims of the request's bearer token when one was present and valid; nil otherwise.
    public var claims: JWTClaims?
    /// Header fields in request order, names as sent.
    public var headers: [(String, String)]
    /// Query parameters in request order, percent-decoded.
    public var query: [(String, String)]

    public init(claims: JWTClaims? = nil, headers: [(String, String)] = [], query: [(String, String)] = []) {
        self.claims = claims
        self.headers = headers
        self.query = query
    }

    /// The first header named `name` (ASCII case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        headers.first { HTTPSyntax.nameEquals($0.0, name) }?.1
    }

    /// The first query value whose key is `name` (ASCII case-insensitive, as ASP.NET Core reads queries), or nil.
    public func queryValue(_ name: String) -> String? {
        query.first { HTTPSyntax.nameEquals($0.0, name) }?.1
    }
}
