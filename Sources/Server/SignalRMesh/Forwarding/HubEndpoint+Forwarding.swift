/// The owner's side of forwarded WebSocket and SSE sessions (``TransportForwarder``): the same checks and status
/// codes as the local paths (``HubEndpoint/claimForWebSocket(_:now:)``, ``HubEndpoint/claimForEventStream(_:user:)``).
/// Forwarded polls, POSTs and DELETEs go through the HTTP-independent ``HubEndpoint/poll(token:user:responder:now:)``,
/// ``HubEndpoint/send(token:body:now:)`` and ``HubEndpoint/delete(token:now:)``.
extension HubEndpoint {
    /// Why a forwarded session was refused: the HTTP status and text the front answers with.
    struct Refusal: Error {
        var status: Int
        var text: String
    }

    /// Claims a negotiated connection for a WebSocket or SSE session fronted by another replica.
    func claimForwarded(token: String, transport kind: TransportKind) -> Result<ConnectionManager.Record, Refusal> {
        if longPolls[token] != nil { return .failure(Refusal(status: 400, text: Self.cannotChangeTransports)) }
        guard let record = connections.lookup(token: token) else {
            return .failure(Refusal(status: 404, text: "No Connection with that ID"))
        }
        guard offers(kind) else {
            let r = Self.notOffered(kind)
            return .failure(Refusal(status: r.status, text: String(decoding: r.body, as: UTF8.self)))
        }
        switch record.transport {
        case .webSockets? where kind == .webSockets && active[record.connectionId]?.canReattach == true:
            break  // a stateful-reconnect client coming back through another replica: the owner re-attaches it
        case kind?:
            return .failure(Refusal(status: 409, text: kind == .webSockets ? "Connection already has an active WebSocket" : ""))
        case .some:
            return .failure(Refusal(status: 400, text: Self.cannotChangeTransports))
        case nil:
            break
        }
        connections.claim(record, as: kind)
        return .success(record)
    }
}
