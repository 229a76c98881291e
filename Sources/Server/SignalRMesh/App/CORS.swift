/// CORS for the hub and API endpoints: the official JS client calls from another origin with credentials and
/// custom headers (`X-Requested-With`, `X-SignalR-User-Agent`), so the exact origin is echoed (never `*`) with
/// `Access-Control-Allow-Credentials: true`, and preflights echo the requested method and headers.
enum CORS {
    static let allowedMethods: Set<String> = ["GET", "POST", "DELETE", "OPTIONS", "HEAD"]

    /// Headers to add to an actual (non-preflight) response, or none when the origin isn't allowed or absent.
    static func responseHeaders(for request: HTTPRequest, policy: OriginPolicy) -> [(String, String)] {
        guard let origin = request.headers["Origin"], policy.allows(origin, requestHost: request.headers["Host"]) else { return [] }
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Vary", "Origin"),
        ]
    }

    /// Is this an OPTIONS preflight (has Origin and Access-Control-Request-Method)?
    static func isPreflight(_ request: HTTPRequest) -> Bool {
        request.method == "OPTIONS" && request.headers["Origin"] != nil && request.headers["Access-Control-Request-Method"] != nil
    }

    /// Answers a preflight: 204 with the allow headers when the origin and method are allowed, a bare 204 otherwise
    /// (the browser then blocks the call, as with ASP.NET Core's CORS middleware).
    static func preflightResponse(for request: HTTPRequest, policy: OriginPolicy) -> HTTPResponse {
        var response = HTTPResponse(status: 204)
        response.headers.add("Vary", "Origin")
        guard let origin = request.headers["Origin"], policy.allows(origin, requestHost: request.headers["Host"]),
            let method = request.headers["Access-Control-Request-Method"], allowedMethods.contains(method.uppercased())
        else { return response }
        response.headers.add("Access-Control-Allow-Origin", origin)
        response.headers.add("Access-Control-Allow-Credentials", "true")
        response.headers.add("Access-Control-Allow-Methods", method.uppercased())
        if let requested = request.headers["Access-Control-Request-Headers"], !requested.isEmpty {
            response.headers.add("Access-Control-Allow-Headers", requested)
        }
        response.headers.add("Access-Control-Max-Age", "600")
        return response
    }
}
