/// How a hub protocol cuts its byte stream into messages (``RecordSeparatorFramer`` for JSON,
/// ``VarIntLengthFramer`` for MessagePack).
protocol HubFramer {
    var bufferedCount: Int { get }
    mutating func append(_ bytes: UnsafeRawBufferPointer)
    /// Lends the next complete message to `body` (nil when more bytes are needed).
    mutating func withNext<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R?
}

extension HubFramer {
    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next complete message (copied out), or nil when more bytes are needed.
    mutating func next() throws -> [UInt8]? {
        try withNext { Array($0) }
    }
}

extension RecordSeparatorFramer: HubFramer {}
extension VarIntLengthFramer: HubFramer {}

/// A protocol's reader: its framer, and each message parsed where it lies in the framer's buffer (no copy).
struct FramedMessageReader<Framer: HubFramer>: HubMessageReader {
    private var framer: Framer
    private let parse: (UnsafeRawBufferPointer) throws -> HubMessage

    init(_ framer: Framer, parse: @escaping (UnsafeRawBufferPointer) throws -> HubMessage) {
        self.framer = framer
        self.parse = parse
    }

    var bufferedCount: Int { framer.bufferedCount }

    mutating func append(_ bytes: UnsafeRawBufferPointer) { framer.append(bytes) }

    mutating func next() throws -> Result<HubMessage, any Error>? {
        let parse = self.parse
        return try framer.withNext { bytes in Result { try parse(bytes) } }
    }
}
