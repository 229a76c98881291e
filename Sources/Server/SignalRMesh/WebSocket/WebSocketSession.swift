import NetKit

/// A server-side WebSocket on a TCP connection: parses frames, runs the close handshake, and hands whole messages
/// (or, when streaming, data as it arrives) to its owner. Confined to the connection's loop.
final class WebSocketSession {
    let conn: TCPConnection
    private var parser: WebSocketFrameParser
    private var machine = WebSocketStateMachine()
    private let closeTimeoutNanos: UInt64
    private var closeTimer: TimerID?
    private let logger: Logger
    /// The peer started the close handshake (a Close frame while open), rather than just dropping the connection.
    private(set) var peerSentClose = false

    /// The callbacks below, kept out of line: a hub connection's session uses ``handler`` instead and pays one
    /// pointer for them, not five closures (80 bytes).
    private final class Callbacks {
        var onText: (([UInt8]) -> Void)?
        var onBinary: (([UInt8]) -> Void)?
        var onChunk: ((_ bytes: [UInt8], _ last: Bool) -> Void)?
        var onActivity: (() -> Void)?
        var onClosed: ((TCPCloseReason) -> Void)?
    }
    private var callbacks: Callbacks?
    private var callbacksForSetting: Callbacks {
        if let c = callbacks { return c }
        let c = Callbacks()
        callbacks = c
        return c
    }

    var onText: (([UInt8]) -> Void)? {
        get { callbacks?.onText }
        set { callbacksForSetting.onText = newValue }
    }
    var onBinary: (([UInt8]) -> Void)? {
        get { callbacks?.onBinary }
        set { callbacksForSetting.onBinary = newValue }
    }
    /// Streaming sessions: the next bytes of a data message as they arrive (`last`: the message ends here).
    var onChunk: ((_ bytes: [UInt8], _ last: Bool) -> Void)? {
        get { callbacks?.onChunk }
        set { callbacksForSetting.onChunk = newValue }
    }
    /// Called on every read from the peer, before parsing: any bytes at all (a partial frame, a ping, a pong) are
    /// a sign of life.
    var onActivity: (() -> Void)? {
        get { callbacks?.onActivity }
        set { callbacksForSetting.onActivity = newValue }
    }
    /// Called once when the TCP connection is gone (after a close handshake or not).
    var onClosed: ((TCPCloseReason) -> Void)? {
        get { callbacks?.onClosed }
        set { callbacksForSetting.onClosed = newValue }
    }
    /// For the server's bookkeeping, independent of the owner's `onClosed`.
    var onTransportGone: (() -> Void)?
    /// A hub connection's receiving side (set by ``start(handler:leftover:)``), held weakly: the hub may drop its
    /// connection while the socket finishes the close handshake. It gets what the callbacks would (data as
    /// it arrives, activity, the end) through one field, where five closures would cost an allocation each on
    /// every connection.
    weak var handler: (any HubTransportHandler)?
    /// Set by ``releaseBuffersAfterThisRead()``: the parser drops its buffers once the current read is parsed.
    private var releaseBuffers = false

    /// - Parameter streaming: hand data to ``onChunk`` as it arrives instead of whole messages to ``onText`` /
    ///   ``onBinary``, so nothing here buffers a message (the owner bounds what it keeps).
    init(conn: TCPConnection, limits: WebSocketLimits, closeTimeout: Double, logger: Logger, streaming: Bool = false) {
        self.conn = conn
        self.parser = WebSocketFrameParser(role: .server, limits: limits, streaming: streaming)
        self.closeTimeoutNanos = UInt64(closeTimeout * 1e9)
        self.logger = logger
    }

    /// Takes over the connection's reads; `leftover` are bytes that arrived with the upgrade request.
    ///
    /// The socket owns the session (strong captures): the session must outlive whoever created it until the close
    /// handshake is over. TCPConnection drops its callbacks when it finishes, which breaks the cycle.
    func start(leftover: [UInt8]) {
        conn.onRead = { bytes in self.received(bytes) }
        conn.onClose = { reason in self.transportClosed(reason) }
        if !leftover.isEmpty {
            leftover.withUnsafeBytes { received($0) }
        }
    }

    var isOpen: Bool { machine.state == .open && conn.isOpen }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        onActivity?()
        handler?.transportActivity()
        parser.append(bytes)
        while conn.isOpen {
            let event: WebSocketEvent?
            do {
                event = try parser.next()
            } catch let error as WebSocketProtocolError {
                logger.debug(
                    "websocket protocol error",
                    ["remote": conn.remoteAddress?.description ?? "?", "code": "\(error.code)", "reason": error.reason])
                perform(machine.failed(error))
                return
            } catch {
                perform(machine.failed(WebSocketProtocolError(code: 1011, reason: "internal error")))
                return
            }
            guard let event else {
                if releaseBuffers {
                    releaseBuffers = false
                    parser.releaseIdleBuffers()
                }
                return
            }
            if case .close = event, machine.state == .open { peerSentClose = true }
            perform(machine.received(event))
        }
    }

    private func perform(_ actions: WebSocketStateMachine.Actions) {
        for action in actions {
            switch action {
            case .deliverText(let payload):
                onText?(payload)
                deliverToHandler(payload)
            case .deliverBinary(let payload):
                onBinary?(payload)
                deliverToHandler(payload)
            case .deliverChunk(_, let bytes, let last):
                onChunk?(bytes, last)
                deliverToHandler(bytes)
            case .sendPong(let payload): sendFrame(.pong, payload)
            case .sendClose(let code, let reason):
                sendFrame(.close, WebSocketFrameEncoder.closePayload(code: code, reason: reason))
                // Nothing may follow the Close frame: no more broadcast passes.
                conn.leaveSharedOutput()
                armCloseTimer()
            case .closeTransport:
                conn.close()
            case .none:
                break
            }
        }
    }

    private func deliverToHandler(_ bytes: [UInt8]) {
        guard let handler else { return }
        bytes.withUnsafeBytes { handler.transportReceived($0) }
    }

    private func armCloseTimer() {
        guard closeTimer == nil else { return }
        closeTimer = conn.loop.schedule(afterNanos: closeTimeoutNanos) { [weak self] in
            self?.conn.abort()
        }
    }

    private func transportClosed(_ reason: TCPCloseReason) {
        if let t = closeTimer { conn.loop.cancel(t) }
        onTransportGone?()
        onTransportGone = nil
        let cb = onClosed
        let hub = handler
        callbacks = nil
        handler = nil
        cb?(reason)
        hub?.transportClosed()
    }

    /// Once the read being handled is parsed, the parser lets go of the buffers it keeps for reuse (if nothing in
    /// them is still needed). The hub asks after its handshake: a connection that then stays idle holds no parser
    /// buffer, while one that keeps talking gets them back on its next message and reuses them from then on.
    func releaseBuffersAfterThisRead() {
        releaseBuffers = true
    }

    /// The parser lets go of its buffers now if nothing in them is still needed (called between reads: a client
    /// that went quiet again after a ping or a message).
    func releaseIdleBuffers() {
        parser.releaseIdleBuffers()
    }

    /// Whether the parser holds buffers (none after a release that took).
    var holdsParserBuffers: Bool { parser.retainedCapacity > 0 }

    func sendFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8]) {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 10)
        WebSocketFrameEncoder.encode(opcode, payload: payload, into: &out)
        conn.write(out)
    }

    /// Queues an already-encoded frame (a broadcast encodes once and shares the bytes).
    func sendEncoded(_ frame: [UInt8]) {
        guard machine.state == .open else { return }
        conn.write(frame)
    }

    /// Starts the close handshake.
    func close(code: UInt16, reason: String) {
        perform(machine.close(code: code, reason: reason))
    }
}
