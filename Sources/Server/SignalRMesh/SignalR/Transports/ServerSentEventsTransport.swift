import NetKit

/// The Server-Sent Events transport (signalr-protocol.md 1.5): the server→client half is one long
/// `text/event-stream` response on a socket handed over from HTTP (each send is one event); the client→server half
/// comes in POSTs (``receive(_:)``). Text only. The client ends it by closing the socket. Confined to its loop.
final class ServerSentEventsTransport: HubTransport {
    let conn: TCPConnection
    var loop: EventLoop { conn.loop }
    var kind: TransportKind { .serverSentEvents }
    var supportsBinary: Bool { false }
    var hasInherentKeepAlive: Bool { false }
    var pendingWriteBytes: Int { conn.pendingWriteBytes }
    var remoteAddress: SocketAddress? { conn.remoteAddress }
    private weak var handler: (any HubTransportHandler)?
    private var closed = false

    /// `head` is the serialized response head (status line and headers, close-delimited body).
    init(conn: TCPConnection, head: [UInt8]) {
        self.conn = conn
        conn.write(head)
        conn.write(ServerSentEvents.preamble)
        conn.flush()
    }

    /// The response head: 200 `text/event-stream`, no caching, no Content-Length (the body ends when the socket
    /// closes). `extra` are more headers (CORS).
    static func responseHead(extra: [(String, String)], requestVersion: HTTPVersion) -> [UInt8] {
        var r = HTTPResponse(status: 200)
        r.headers.add("Content-Type", "text/event-stream")
        r.headers.add("Cache-Control", "no-cache,no-store")
        r.headers.add("Pragma", "no-cache")
        r.headers.add("Content-Encoding", "identity")
        r.headers.add("X-Accel-Buffering", "no")
        for (k, v) in extra { r.headers.add(k, v) }
        return r.serialize(keepAlive: false, headOnly: true, requestVersion: requestVersion, closeDelimited: true)
    }

    func start(handler: any HubTransportHandler, leftover: [UInt8]) {
        self.handler = handler
        // The socket owns the transport until it closes (TCPConnection drops its callbacks then). The client sends
        // nothing more on this socket; whatever it does send is ignored.
        conn.onRead = { _ in }
        conn.onClose = { _ in self.socketClosed() }
        if !conn.isOpen { socketClosed() }
    }

    /// A POST body for the hub: false when the stream is already over (the POST gets 404).
    func receive(_ body: [UInt8]) -> Bool {
        guard !closed else { return false }
        handler?.transportActivity()
        body.withUnsafeBytes { handler?.transportReceived($0) }
        return true
    }

    func send(_ bytes: [UInt8], format: TransferFormat) {
        guard !closed else { return }
        conn.write(bytes.withUnsafeBytes { ServerSentEvents.event($0) })
    }

    func send(_ message: OutgoingMessage, kind: HubProtocolKind) {
        guard !closed else { return }
        if kind == .json {
            conn.write(message.serverSentEvent())
        } else {
            conn.write(message.withPayload(kind) { ServerSentEvents.event($0) })
        }
    }

    /// Ends the stream after what is queued.
    func close() {
        guard !closed else { return }
        closed = true
        conn.close()
    }

    private func socketClosed() {
        closed = true
        if let h = handler {
            handler = nil
            h.transportClosed()
        }
    }
}
