import NetKit

/// The owner's side of a WebSocket or SSE session whose socket is on another replica (the front): what the
/// connection sends goes over the backplane to the front, which frames it for its socket; what the client sends
/// comes back the same way. Confined to the loop.
final class RemoteTransport: HubTransport {
    let kind: TransportKind
    let loop: EventLoop
    let front: String
    let session: UInt64
    private unowned let forwarder: TransportForwarder
    private weak var handler: (any HubTransportHandler)?
    private var open = true
    /// The client closed its WebSocket with a Close frame (not a drop): a stateful connection then ends at once.
    private(set) var closedByClient = false

    init(kind: TransportKind, front: String, session: UInt64, forwarder: TransportForwarder, loop: EventLoop) {
        self.kind = kind
        self.front = front
        self.session = session
        self.forwarder = forwarder
        self.loop = loop
    }

    var supportsBinary: Bool { kind != .serverSentEvents }
    var hasInherentKeepAlive: Bool { false }

    func start(handler: any HubTransportHandler, leftover: [UInt8]) {
        self.handler = handler
        if !leftover.isEmpty { leftover.withUnsafeBytes { handler.transportReceived($0) } }
    }

    func send(_ bytes: [UInt8], format: TransferFormat) {
        guard open else { return }
        forwarder.send(.data(session: session, format: format, bytes: bytes, toOwner: false), to: front)
    }

    func send(_ message: OutgoingMessage, kind: HubProtocolKind) {
        guard open else { return }
        let bytes = message.withPayload(kind) { Array($0) }
        forwarder.send(.data(session: session, format: kind == .json ? .text : .binary, bytes: bytes, toOwner: false), to: front)
    }

    func close() {
        guard open else { return }
        open = false
        forwarder.send(.close(session: session, toOwner: false), to: front)
        forwarder.forget(self)
    }

    // MARK: From the front (TransportForwarder)

    /// A POST body for an SSE session (the POST may reach any replica): false once the session is over.
    func receive(_ body: [UInt8]) -> Bool {
        guard open else { return false }
        received(body)
        return true
    }

    func received(_ bytes: [UInt8]) {
        guard open, let handler else { return }
        handler.transportActivity()
        bytes.withUnsafeBytes { handler.transportReceived($0) }
    }

    /// The client's socket closed (`clean`: after its Close frame), or the front became unreachable.
    func frontClosed(clean: Bool = false) {
        guard open else { return }
        open = false
        closedByClient = clean
        handler?.transportClosed()
    }
}
