/// One complete request as the parser hands it out: head fields, decoded target and the whole body
/// (chunked bodies already de-chunked).
struct HTTPRequest: Equatable, Sendable {
    /// As sent: methods are case-sensitive (RFC 9110 9.1), so `get` is not `GET`.
    var method: String
    /// The raw request-target from the request line.
    var target: String
    /// The percent-decoded path without the query (`/` for an absolute-form target without a path,
    /// `*` for the asterisk form).
    var path: String
    /// Query pairs in order, percent-decoded with `+` read as a space. A key without `=` has an empty value.
    var query: [(String, String)]
    var version: HTTPVersion
    var headers: HTTPHeaders
    var body: [UInt8]
    /// Whether the connection may stay open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    var keepAlive: Bool
    /// `GET` over HTTP/1.1 with `Upgrade: websocket` and `Connection: upgrade`. HTTP/1.0 never counts:
    /// RFC 9110 7.8 tells servers to ignore `Upgrade` in a 1.0 request.
    var isWebSocketUpgrade: Bool

    /// Builds a request by hand (for tests and internal routing). The target is decoded the same way the
    /// parser does it; a target the parser would reject is kept as the path with no query.
    init(
        method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = .init(),
        body: [UInt8] = []
    ) {
        let bytes = Array(target.utf8)
        let decoded = bytes.withUnsafeBufferPointer { try? HTTPTarget.decode($0) }
        self.init(
            method: method, target: target, path: decoded?.path ?? target, query: decoded?.query ?? [],
            version: version, headers: headers, body: body)
    }

    /// Memberwise form used by the parser once the target has been decoded.
    init(
        method: String, target: String, path: String, query: [(String, String)], version: HTTPVersion,
        headers: HTTPHeaders, body: [UInt8]
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        if version == .http1_1 {
            keepAlive = !headers.containsToken("Connection", "close")
        } else {
            keepAlive = headers.containsToken("Connection", "keep-alive") && !headers.containsToken("Connection", "close")
        }
        isWebSocketUpgrade =
            method == "GET" && version == .http1_1 && headers.containsToken("Upgrade", "websocket")
            && headers.containsToken("Connection", "upgrade")
    }

    /// The first query value whose key matches `name` ASCII case-insensitively. ASP.NET Core's
    /// `Request.Query` ignores key case, and clients send `negotiateVersion` while servers read `NegotiateVersion`.
    func queryValue(_ name: String) -> String? {
        for (key, value) in query where HTTPSyntax.nameEquals(key, name) {
            return value
        }
        return nil
    }

    static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.path == rhs.path
            && lhs.query.count == rhs.query.count
            && zip(lhs.query, rhs.query).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            && lhs.version == rhs.version && lhs.headers == rhs.headers && lhs.body == rhs.body
            && lhs.keepAlive == rhs.keepAlive && lhs.isWebSocketUpgrade == rhs.isWebSocketUpgrade
    }
}

// MARK: - Errors
