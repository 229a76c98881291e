/// The owner's side of forwarded transport requests (``TransportForwarder``): the same checks and status codes as
/// the local HTTP paths.
extension HubEndpoint {
    /// Why a forwarded transport request was refused: the HTTP status and text the front answers with.
    struct Refusal: Error {
        var status: Int
        var text: String
    }

    /// Claims a negotiated connection for a WebSocket or SSE session fronted by another replica.
    func claimForwarded(token: String, transport: TransportKind) -> Result<ConnectionManager.Record, Refusal> {
        guard let record = connections.lookup(token: token) else {
            return .failure(Refusal(status: 404, text: "No Connection with that ID"))
        }
        if record.claimed {
            return .failure(Refusal(status: 409, text: "Connection already has an active \(transport == .webSockets ? "WebSocket" : "connection")"))
        }
        connections.claim(record)
        return .success(record)
    }

    /// A long-poll, POST or DELETE fronted by another replica; `reply(status, contentType, body)` answers it.
    func forwardedRequest(
        token: String, method: ForwardedMethod, body: [UInt8], reply: @escaping (Int, String, [UInt8]) -> Void
    ) {
        let text = "text/plain; charset=utf-8"
        guard let record = connections.lookup(token: token) else {
            return reply(404, text, Array("No Connection with that ID".utf8))
        }
        switch method {
        case .send:
            if record.claimed { return reply(405, text, Array("POST requests are not allowed for WebSocket connections.".utf8)) }
            reply(404, text, Array("LongPolling transport not supported by this end point type".utf8))
        case .poll:
            reply(404, text, Array("LongPolling transport not supported by this end point type".utf8))
        case .delete:
            reply(400, text, Array("Cannot terminate this connection using the DELETE endpoint.".utf8))
        }
    }
}
