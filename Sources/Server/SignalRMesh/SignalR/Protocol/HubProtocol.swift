/// A hub protocol (HubProtocol.md): how hub messages are framed and encoded on a connection. Chosen by the
/// client's handshake (which itself is always JSON); ``HubProtocols`` lists the ones offered.
protocol HubProtocol: Sendable {
    /// The name the handshake asks for (`json`, `messagepack`); matched case-insensitively.
    var name: String { get }
    /// Handshake versions accepted: the JS and .NET clients send 1 (2 with stateful reconnect), signalrcore 0.
    /// ASP.NET Core accepts every version up to its protocol's own (2 for json and messagepack).
    var versions: ClosedRange<Int> { get }
    /// What the transport must carry: SSE (text only) can't carry a binary protocol.
    var transferFormat: TransferFormat { get }
    /// The key of this protocol's encoding in shared broadcast buffers (``OutgoingMessage``).
    var kind: HubProtocolKind { get }
    /// A framed Ping, ready to write.
    var pingMessage: [UInt8] { get }
    /// A reader for one connection's incoming bytes after the handshake.
    func makeReader(maxMessageSize: Int) -> any HubMessageReader
    /// Appends `message`, framed (with its 0x1E, or its VarInt length prefix).
    func write(_ message: HubMessage, into out: inout [UInt8])
}

extension HubProtocol {
    func encode(_ message: HubMessage) -> [UInt8] {
        var out: [UInt8] = []
        write(message, into: &out)
        return out
    }
}
