import NetKit

/// The hub path's non-WebSocket requests over local HTTP: Server-Sent Events streams, long polls (deferred
/// answers), sends (POST) and DELETE. The decisions are the endpoint's (``HubEndpoint``); this maps them to HTTP.
extension HTTPServer {
    func transportRequest(_ request: HTTPRequest, endpoint: HubEndpoint, http: HTTPConnection, now: UInt64) -> Outcome {
        let user: AuthenticatedUser
        switch endpoint.authenticate(request) {
        case .success(let u): user = u
        case .failure(let response): return .response(withCORS(response, request))
        }
        // Only a request that carried a token (header or access_token) sets the connection's user.
        let tokenUser = endpoint.authenticator.hasToken(request) ? user : nil
        let id = request.queryValue("id")
        switch request.method {
        case "GET":
            if Self.acceptsEventStream(request) {
                return eventStream(request, endpoint: endpoint, http: http, user: tokenUser, now: now)
            }
            let responder = HTTPPollResponder(
                http: http, request: request, extraHeaders: CORS.responseHeaders(for: request, policy: options.allowedOrigins))
            http.beginDeferred(responder)
            endpoint.poll(token: id, user: tokenUser, responder: responder, now: now)
            return .deferred
        case "POST":
            let answer = endpoint.send(token: id, body: request.body, now: now)
            return .response(withCORS(.text(answer.status, answer.text), request))
        case "DELETE":
            let answer = endpoint.delete(token: id, now: now)
            return .response(withCORS(.text(answer.status, answer.text), request))
        default:
            var r = HTTPResponse.text(405, "Method Not Allowed")
            r.headers.add("Allow", "GET, POST, DELETE")
            return .response(withCORS(r, request))
        }
    }

    /// `Accept` names `text/event-stream` (any of its media ranges, parameters ignored).
    static func acceptsEventStream(_ request: HTTPRequest) -> Bool {
        request.headers.values("Accept").contains { value in
            value.split(separator: ",").contains { range in
                let type = range.split(separator: ";", maxSplits: 1).first ?? ""
                return type.filter { $0 != " " && $0 != "\t" }.lowercased() == "text/event-stream"
            }
        }
    }

    /// Hands the socket to a Server-Sent Events transport after its 200 head.
    private func eventStream(
        _ request: HTTPRequest, endpoint: HubEndpoint, http: HTTPConnection, user: AuthenticatedUser?, now: UInt64
    ) -> Outcome {
        let record: ConnectionManager.Record
        switch endpoint.claimForEventStream(request, user: user) {
        case .success(let r): record = r
        case .failure(let response): return .response(withCORS(response, request))
        }
        let head = ServerSentEventsTransport.responseHead(
            extra: CORS.responseHeaders(for: request, policy: options.allowedOrigins), requestVersion: request.version)
        http.detach()
        http.conn.maxPendingWriteBytes = options.maxPendingBytesPerConnection
        let transport = ServerSentEventsTransport(conn: http.conn, head: head)
        endpoint.acceptEventStream(record: record, transport: transport, now: now)
        return .upgraded
    }
}
