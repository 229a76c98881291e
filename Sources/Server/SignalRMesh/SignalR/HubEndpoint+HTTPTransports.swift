import NetKit

/// The requests of the Server-Sent Events and long-polling transports (signalr-protocol.md 1.4–1.6), with the
/// status codes and texts of ASP.NET Core's `HttpConnectionDispatcher`. Nothing here depends on an HTTP
/// connection: a poll is answered through a ``LongPollResponder``, and POST and DELETE return their status and
/// text, so a request that reached another replica can be handed to this one.
extension HubEndpoint {
    /// An answer to a POST or DELETE: the status and a `text/plain` body.
    struct TextAnswer: Equatable {
        var status: Int
        var text: String
    }

    static let cannotChangeTransports = "Cannot change transports mid-connection"

    /// 404 "<T> transport not supported by this end point type".
    static func notOffered(_ kind: TransportKind) -> HTTPResponse {
        .text(404, "\(kind.rawValue) transport not supported by this end point type")
    }

    /// A long poll (`GET [hub]?id=…` without `Accept: text/event-stream`). The first poll of a negotiated
    /// connection starts it as long polling. Every outcome, errors included, goes to `responder`.
    /// - Parameter user: the user the poll's own token authenticated (nil: it carried none); the first poll
    ///   sets the connection's user with it, as the WebSocket request does.
    func poll(token: String?, user: AuthenticatedUser?, responder: any LongPollResponder, now: UInt64) {
        func fail(_ status: Int, _ text: String) {
            responder.respond(status: status, contentType: "text/plain", body: Array(text.utf8))
        }
        guard let token, !token.isEmpty else { return fail(400, "Connection ID required") }
        if let transport = longPolls[token] { return transport.poll(responder) }
        guard let record = connections.lookup(token: token) else { return fail(404, "No Connection with that ID") }
        guard offers(.longPolling) else {
            let r = Self.notOffered(.longPolling)
            return fail(r.status, String(decoding: r.body, as: UTF8.self))
        }
        guard record.transport == nil else { return fail(400, Self.cannotChangeTransports) }
        if let user { record.user = user }
        let transport = startLongPolling(record, now: now)
        transport.remoteAddress = responder.remoteAddress
        transport.poll(responder)
    }

    /// A send (`POST [hub]?id=…`): the whole body goes to the connection's reader (which enforces the message
    /// size limit per message). Bodies are handled one at a time on the loop, so two POSTs never overlap and
    /// the 409 of the spec cannot happen.
    func send(token: String?, body: [UInt8], now: UInt64) -> TextAnswer {
        guard let token, !token.isEmpty else { return TextAnswer(status: 400, text: "Connection ID required") }
        if let transport = longPolls[token] {
            return transport.receive(body) ? TextAnswer(status: 200, text: "") : TextAnswer(status: 404, text: "")
        }
        guard let record = connections.lookup(token: token) else {
            return TextAnswer(status: 404, text: "No Connection with that ID")
        }
        switch record.transport {
        case .webSockets?:
            return TextAnswer(status: 405, text: "POST requests are not allowed for WebSocket connections.")
        case .serverSentEvents?:
            if let remote = remoteEventStreams[token] {
                return remote.receive(body) ? TextAnswer(status: 200, text: "") : TextAnswer(status: 404, text: "")
            }
            guard let transport = eventStreams[token], transport.receive(body) else { return TextAnswer(status: 404, text: "") }
            return TextAnswer(status: 200, text: "")
        case .longPolling?:
            // Finished already (its table entry is gone).
            return TextAnswer(status: 404, text: "")
        case nil:
            // A send before any transport request: signalrcore's long polling posts its handshake before its
            // first poll. The connection starts as long polling; that first poll then returns at once.
            guard offers(.longPolling) else {
                let r = Self.notOffered(.longPolling)
                return TextAnswer(status: r.status, text: String(decoding: r.body, as: UTF8.self))
            }
            let transport = startLongPolling(record, now: now)
            return transport.receive(body) ? TextAnswer(status: 200, text: "") : TextAnswer(status: 404, text: "")
        }
    }

    /// `DELETE [hub]?id=…`: ends a long-polling connection (202; its outstanding poll gets 204).
    func delete(token: String?, now: UInt64) -> TextAnswer {
        guard let token, !token.isEmpty else { return TextAnswer(status: 400, text: "Connection ID required") }
        if let transport = longPolls[token] {
            transport.delete()
            return TextAnswer(status: 202, text: "")
        }
        guard connections.lookup(token: token) != nil else { return TextAnswer(status: 404, text: "No Connection with that ID") }
        return TextAnswer(status: 400, text: "Cannot terminate this connection using the DELETE endpoint.")
    }

    /// Decides on a Server-Sent Events request (`GET [hub]?id=…` with `Accept: text/event-stream`): the
    /// connection record to use (now claimed), or the error response.
    func claimForEventStream(_ request: HTTPRequest, user: AuthenticatedUser?) -> Result<ConnectionManager.Record, HTTPResponse> {
        guard let id = request.queryValue("id"), !id.isEmpty else { return .failure(.text(400, "Connection ID required")) }
        if longPolls[id] != nil { return .failure(.text(400, Self.cannotChangeTransports)) }
        guard let record = connections.lookup(token: id) else { return .failure(.text(404, "No Connection with that ID")) }
        guard offers(.serverSentEvents) else { return .failure(Self.notOffered(.serverSentEvents)) }
        switch record.transport {
        case .serverSentEvents?: return .failure(.text(409, ""))
        case .some: return .failure(.text(400, Self.cannotChangeTransports))
        case nil: break
        }
        if let user { record.user = user }
        connections.claim(record, as: .serverSentEvents)
        return .success(record)
    }

    /// Starts the hub connection of a claimed Server-Sent Events request.
    func acceptEventStream(record: ConnectionManager.Record, transport: ServerSentEventsTransport, now: UInt64) {
        eventStreams[record.token] = transport
        accept(record: record, transport: transport, leftover: [], now: now)
    }

    private func startLongPolling(_ record: ConnectionManager.Record, now: UInt64) -> LongPollingTransport {
        connections.claim(record, as: .longPolling)
        let transport = LongPollingTransport(
            loop: loop, pollTimeout: options.longPollTimeout, disconnectTimeout: options.disconnectTimeout,
            maxBufferedBytes: options.maxPendingBytesPerConnection, clock: clock)
        let token = record.token
        longPolls[token] = transport
        transport.onFinished = { [weak self, weak transport] in
            if let self, let transport, self.longPolls[token] === transport { self.longPolls[token] = nil }
        }
        let limit = options.maxPendingBytesPerConnection
        transport.onOverflow = { [weak self] in
            self?.throttledLog.warning(Logger(label: "endpoint", metadata: ["conn": record.connectionId]),
                kind: "long-poll-buffer-full", "closing: long-poll buffer full", ["limit": "\(limit)"])
        }
        accept(record: record, transport: transport, leftover: [], now: now)
        return transport
    }
}
