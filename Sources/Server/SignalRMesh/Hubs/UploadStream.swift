import Synchronization

/// The server end of one client→server stream: the connection's loop pushes the items of `StreamItem` messages,
/// the hub method reads them through a ``HubStream``. Items wait here until read, up to ``maxBufferedBytes``
/// (an estimate of their JSON size): a client that outruns its method past that fails the stream
/// (``HubStreamError/overflow(_:)``) instead of growing the buffer. Thread-safe.
final class UploadStream: Sendable {
    struct Item: Sendable {
        var value: JSONValue
        var size: Int
    }

    /// Default bound on unread items per stream: 1 MiB of estimated JSON.
    static let defaultMaxBufferedBytes = 1 << 20

    let id: String
    let maxBufferedBytes: Int
    let items: AsyncThrowingStream<Item, any Error>
    private let continuation: AsyncThrowingStream<Item, any Error>.Continuation
    private let buffered = Mutex<Int>(0)

    init(id: String, maxBufferedBytes: Int = UploadStream.defaultMaxBufferedBytes) {
        self.id = id
        self.maxBufferedBytes = maxBufferedBytes
        (items, continuation) = AsyncThrowingStream.makeStream(of: Item.self, throwing: (any Error).self)
    }

    /// Adds an item; false when it would exceed the bound (the stream is then finished with an overflow error).
    func push(_ value: JSONValue) -> Bool {
        let size = Self.estimatedSize(value)
        let fits = buffered.withLock { total in
            guard total + size <= maxBufferedBytes else { return false }
            total += size
            return true
        }
        guard fits else {
            continuation.finish(throwing: HubStreamError.overflow(maxBufferedBytes))
            return false
        }
        continuation.yield(Item(value: value, size: size))
        return true
    }

    /// The reader took an item of `size` bytes.
    func consumed(_ size: Int) {
        buffered.withLock { $0 -= size }
    }

    /// Ends the stream: normally, or with `error` (the reader throws it after the items before it).
    func finish(error: HubStreamError? = nil) {
        if let error { continuation.finish(throwing: error) } else { continuation.finish() }
    }

    /// About the size of the value's JSON: enough to bound memory, without encoding it.
    static func estimatedSize(_ value: JSONValue) -> Int {
        switch value {
        case .null, .bool: return 8
        case .number(let n): return 8 + n.utf8.count
        case .string(let s): return 16 + s.utf8.count
        case .array(let items): return items.reduce(16) { $0 + estimatedSize($1) }
        case .object(let members): return members.reduce(16) { $0 + 16 + $1.0.utf8.count + estimatedSize($1.1) }
        }
    }
}
