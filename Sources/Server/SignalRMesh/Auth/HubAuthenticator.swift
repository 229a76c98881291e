/// Authenticates hub requests: the bearer token (header, or `access_token` in the query), checked as an HS256
/// JWT, and the user id the provider takes from it. Tokens are never logged.
struct HubAuthenticator: Sendable {
    /// nil: no key configured, so no token can be checked and every request is anonymous.
    let validator: JWTValidator?
    let userIdProvider: any UserIdProvider

    struct Outcome {
        var user: AuthenticatedUser
        /// Why a token that was sent did not count (no token text in it).
        var failure: String?
    }

    func hasToken(_ request: HTTPRequest) -> Bool { token(request) != nil }

    func token(_ request: HTTPRequest) -> String? {
        BearerToken.extract(authorization: request.headers["Authorization"], query: request.queryValue("access_token"))
    }

    func authenticate(_ request: HTTPRequest) -> Outcome {
        guard let token = token(request) else { return Outcome(user: AuthenticatedUser()) }
        guard let validator else {
            return Outcome(user: AuthenticatedUser(), failure: "no --jwt-key is configured to check tokens")
        }
        do {
            let claims = try validator.validate(token)
            let info = HubRequestInfo(
                claims: claims, headers: request.headers.map { ($0.name, $0.value) }, query: request.query)
            return Outcome(user: AuthenticatedUser(userId: userIdProvider.userId(claims: claims, request: info), claims: claims))
        } catch {
            return Outcome(user: AuthenticatedUser(), failure: "\(error)")
        }
    }
}
