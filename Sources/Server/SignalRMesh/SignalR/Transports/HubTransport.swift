import NetKit

/// The server→client half of a SignalR connection and the source of its client→server bytes: a WebSocket, a
/// Server-Sent Events stream (+ POSTs), or long polling (polls + POSTs). A ``SignalRConnection`` speaks to its
/// transport only through this. Confined to the transport's loop.
protocol HubTransport: AnyObject {
    var kind: TransportKind { get }
    var loop: EventLoop { get }
    /// Whether the transport carries binary (SSE is text only, so MessagePack is refused on it).
    var supportsBinary: Bool { get }
    /// Long polling: the polls show the client is alive, so the hub sends no Pings and runs no client timeout.
    var hasInherentKeepAlive: Bool { get }
    /// Hands incoming bytes, signs of life and the end of the transport to `handler` (held weakly), first
    /// `leftover` bytes that arrived before the transport was set up.
    func start(handler: any HubTransportHandler, leftover: [UInt8])
    /// Writes framed hub-protocol bytes (one or more messages) as one transport message of `format`.
    func send(_ bytes: [UInt8], format: TransferFormat)
    /// Writes a shared broadcast message in the encoding of `kind` (no copy where the transport allows).
    func send(_ message: OutgoingMessage, kind: HubProtocolKind)
    /// Bytes queued for the client and not yet written: server→client streams wait while this is high.
    var pendingWriteBytes: Int { get }
    /// Ends the transport after what is queued (WebSocket close handshake, end of the SSE stream, 204 to polls).
    func close()
    /// The client ended the transport on purpose (a WebSocket Close frame), as opposed to a dropped network: a
    /// stateful-reconnect connection then ends instead of waiting for the client to come back.
    var closedByClient: Bool { get }
    /// The client's address as this replica sees it (the TCP peer), when the transport has one (logs only).
    var remoteAddress: SocketAddress? { get }
}

extension HubTransport {
    var closedByClient: Bool { false }
    var remoteAddress: SocketAddress? { nil }
}

extension HubTransport {
    /// Transports that don't report their queue never hold a stream back.
    var pendingWriteBytes: Int { 0 }
}

/// What a transport reports to its connection.
protocol HubTransportHandler: AnyObject {
    /// Hub-protocol bytes from the client (a WebSocket message or part of one, a POST body).
    func transportReceived(_ bytes: UnsafeRawBufferPointer)
    /// Any bytes at all from the client, even a WebSocket ping: resets the client timeout.
    func transportActivity()
    /// The transport is gone (socket closed, long polling inactive too long, DELETE).
    func transportClosed()
}
