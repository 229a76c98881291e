// Splits a byte stream of JSON hub messages on the record separator 0x1E.

/// Why the framer gave up.
enum FramerError: Error, Equatable {
    /// One message (or the unterminated tail) is over the limit: close with ``HubErrors/closedWithError``.
    case messageTooLarge
}

/// Incremental splitter for the JSON text framing (`<json>0x1E<json>0x1E…`).
///
/// Feed it whatever the transport delivered (parts of a message, several messages, a message plus the start of
/// the next) with ``append(_:)-(UnsafeRawBufferPointer)``, then call ``next()`` until it returns nil. The
/// output does not depend on how the input was split. 0x1E cannot occur inside UTF-8 JSON text except as a raw
/// control byte, which JSON forbids in strings, so a plain byte search is exact.
///
/// The size limit (ASP.NET Core's `MaximumReceiveMessageSize`, 32 KB by default) is enforced on the bytes
/// buffered *before* a separator arrives, so a peer can't make us hold more than one oversize message.
/// After an error the framer stays failed.
struct RecordSeparatorFramer {
    /// Largest message accepted, in bytes, excluding its 0x1E; 0 means unlimited.
    let maxMessageSize: Int

    private var buffer: [UInt8] = []
    /// Start of the first message not yet returned.
    private var readIndex = 0
    /// Everything in `readIndex..<scanIndex` is known to hold no separator, so it isn't searched twice.
    private var scanIndex = 0
    private var failed = false

    /// - Parameter maxMessageSize: largest message in bytes, excluding the 0x1E (default 32 KiB, ASP.NET
    ///   Core's `MaximumReceiveMessageSize`); 0 = unlimited.
    init(maxMessageSize: Int = 32 * 1024) {
        precondition(maxMessageSize >= 0, "maxMessageSize must be >= 0")
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes received and not yet returned as messages (including any complete ones still waiting).
    var bufferedCount: Int { buffer.count - readIndex }

    /// Whether the size limit was crossed (every later ``next()`` throws).
    var hasFailed: Bool { failed }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !failed else { return }
        // When everything buffered is one unterminated message (the caller drained the complete ones) and these
        // bytes don't end it, the limit is crossed now: fail without buffering them, so an oversize message never
        // costs more than the limit (``next()`` reports the error).
        if maxMessageSize > 0, scanIndex == buffer.count, bufferedCount + bytes.count > maxMessageSize,
            !bytes.contains(JSONByte.recordSeparator)
        {
            failed = true
            buffer = []
            readIndex = 0
            scanIndex = 0
            return
        }
        compactIfWorthIt()
        buffer.append(contentsOf: bytes)
    }



    /// Like ``next()`` but lends the message bytes instead of copying them. The buffer is only valid inside
    /// `body`.
    mutating func withNext<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        guard let range = try nextRange() else { return nil }
        return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// Hands over the bytes buffered and not yet returned (the start of a stream in another framing, after the
    /// handshake) and empties the framer.
    mutating func takeBuffered() -> [UInt8] {
        let rest = Array(buffer[readIndex...])
        buffer = []
        readIndex = 0
        scanIndex = 0
        return rest
    }

    private mutating func nextRange() throws -> Range<Int>? {
        if failed { throw FramerError.messageTooLarge }
        let end = buffer[scanIndex...].firstIndex(of: JSONByte.recordSeparator)
        guard let end else {
            scanIndex = buffer.count
            if maxMessageSize > 0 && buffer.count - readIndex > maxMessageSize {
                failed = true
                throw FramerError.messageTooLarge
            }
            return nil
        }
        let range = readIndex..<end
        if maxMessageSize > 0 && range.count > maxMessageSize {
            failed = true
            throw FramerError.messageTooLarge
        }
        readIndex = end + 1
        scanIndex = readIndex
        return range
    }

    /// Drops consumed bytes once they are at least half the buffer, so the buffer doesn't grow without bound
    /// and each byte is moved O(1) times on average.
    private mutating func compactIfWorthIt() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
        } else if readIndex >= buffer.count / 2 {
            buffer.removeSubrange(0..<readIndex)
        } else {
            return
        }
        scanIndex -= readIndex
        readIndex = 0
    }
}
