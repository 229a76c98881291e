/// The JSON protocol's reader: 0x1E framing (``RecordSeparatorFramer``), each message parsed where it lies in the
/// framer's buffer (no copy).
struct JSONMessageReader: HubMessageReader {
    private var framer: RecordSeparatorFramer

    init(maxMessageSize: Int) { framer = RecordSeparatorFramer(maxMessageSize: maxMessageSize) }

    var bufferedCount: Int { framer.bufferedCount }

    mutating func append(_ bytes: UnsafeRawBufferPointer) { framer.append(bytes) }

    mutating func next() throws -> Result<HubMessage, any Error>? {
        try framer.withNext { bytes in Result { try JSONHubProtocol.parse(bytes) } }
    }
}
