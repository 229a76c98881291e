import NetKit

/// The WebSockets transport: a streaming ``WebSocketSession`` (frame payloads go to the hub's reader as they
/// arrive, so nothing here buffers a whole WebSocket message); text frames for JSON, binary for MessagePack.
extension WebSocketSession: HubTransport {
    var kind: TransportKind { .webSockets }
    var loop: EventLoop { conn.loop }
    var supportsBinary: Bool { true }
    var hasInherentKeepAlive: Bool { false }
    var pendingWriteBytes: Int { conn.pendingWriteBytes }

    func start(handler: any HubTransportHandler, leftover: [UInt8]) {
        // Held weakly (``WebSocketSession/handler``): the hub may drop its connection while the socket finishes
        // the close handshake.
        self.handler = handler
        start(leftover: leftover)
    }

    func send(_ bytes: [UInt8], format: TransferFormat) {
        var frame: [UInt8] = []
        frame.reserveCapacity(bytes.count + 10)
        WebSocketFrameEncoder.encode(format == .text ? .text : .binary, payload: bytes, into: &frame)
        sendEncoded(frame)
    }

    func send(_ message: OutgoingMessage, kind: HubProtocolKind) {
        sendEncoded(message.webSocketFrame(kind))
    }

    func close() {
        close(code: 1000, reason: "")
    }

    var closedByClient: Bool { peerSentClose }
    var remoteAddress: SocketAddress? { conn.remoteAddress }
}
