/// The MessagePack protocol's reader: VarInt length framing (``VarIntLengthFramer``), each message parsed where it
/// lies in the framer's buffer.
struct MessagePackMessageReader: HubMessageReader {
    private var framer: VarIntLengthFramer

    init(maxMessageSize: Int) { framer = VarIntLengthFramer(maxMessageSize: maxMessageSize) }

    var bufferedCount: Int { framer.bufferedCount }

    mutating func append(_ bytes: UnsafeRawBufferPointer) { framer.append(bytes) }

    mutating func next() throws -> Result<HubMessage, any Error>? {
        try framer.withNext { bytes in Result { try MessagePackHubProtocol.parse(bytes) } }
    }
}
