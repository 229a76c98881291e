// Splits a byte stream of MessagePack hub messages, each `[VarInt length][body]` (HubProtocol.md "MessagePack
// encoding": the binary message format).

/// Why the length-prefix framer gave up (a message over the size limit is ``FramerError/messageTooLarge``, as
/// on the JSON side).
enum LengthPrefixError: Error, Equatable, CustomStringConvertible {
    /// A length prefix longer than 5 bytes or above 0x7FFFFFFF (2 GiB), which the format does not allow.
    case invalidLengthPrefix

    var description: String { "invalid message length prefix (more than 5 bytes or over 2 GiB)" }
}

/// Incremental splitter for the MessagePack hub protocol's binary framing: every message is its length as a
/// VarInt (7 bits a byte, least significant group first, high bit = more bytes follow; 1 to 5 bytes, at most
/// 0x7FFFFFFF) and then that many bytes of body.
///
/// Feed it whatever the transport delivered with ``append(_:)-(UnsafeRawBufferPointer)``, then call ``next()``
/// (or ``withNext(_:)``) until it returns nil. The output does not depend on how the input was split.
///
/// Limits: a message whose announced length is over ``maxMessageSize`` (ASP.NET Core's
/// `MaximumReceiveMessageSize`, 32 KB by default) fails as soon as its prefix has arrived, and its body is
/// never buffered: when the pending message's prefix is complete at ``append(_:)-(UnsafeRawBufferPointer)``
/// time, the framer fails and drops everything. A bad prefix fails the same way. After an error the framer stays
/// failed: every later ``next()`` throws the same error.
struct VarIntLengthFramer {
    /// Largest body accepted, in bytes (the prefix not counted); 0 means only the format's 0x7FFFFFFF.
    let maxMessageSize: Int

    private var buffer: [UInt8] = []
    /// Start of the first message (its prefix) not yet returned.
    private var readIndex = 0
    private var failure: (any Error)?

    /// The largest length a prefix may announce.
    static let maxLength = 0x7FFF_FFFF

    /// - Parameter maxMessageSize: largest body in bytes (default 32 KiB, ASP.NET Core's
    ///   `MaximumReceiveMessageSize`); 0 = no limit beyond the format's 2 GiB.
    init(maxMessageSize: Int = 32 * 1024) {
        precondition(maxMessageSize >= 0, "maxMessageSize must be >= 0")
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes received and not yet returned as messages (prefixes included, complete messages still waiting too).
    var bufferedCount: Int { buffer.count - readIndex }

    /// Whether the framer failed (every later ``next()`` throws).
    var hasFailed: Bool { failure != nil }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        compactIfWorthIt()
        buffer.append(contentsOf: bytes)
        // Check the pending message's prefix now, so that an oversize body is refused before it is buffered.
        do { _ = try prefix(at: readIndex) } catch { fail(error) }
    }



    /// Like ``next()`` but lends the body bytes instead of copying them. The buffer is only valid inside `body`.
    mutating func withNext<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        guard let range = try nextRange() else { return nil }
        return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// Appends `length` as a VarInt (1–5 bytes).
    /// - Precondition: `0 <= length <= 0x7FFFFFFF`.
    static func writeLength(_ length: Int, into out: inout [UInt8]) {
        precondition(length >= 0 && length <= maxLength, "message length out of range")
        var value = UInt32(length)
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    /// How many bytes ``writeLength(_:into:)`` writes for `length`.
    static func lengthPrefixSize(_ length: Int) -> Int {
        switch length {
        case ..<0x80: return 1
        case ..<0x4000: return 2
        case ..<0x20_0000: return 3
        case ..<0x1000_0000: return 4
        default: return 5
        }
    }

    // MARK: Private

    private mutating func nextRange() throws -> Range<Int>? {
        if let failure { throw failure }
        let found: (size: Int, length: Int)?
        do { found = try prefix(at: readIndex) } catch {
            fail(error)
            throw error
        }
        guard let (prefixSize, length) = found else { return nil }
        let start = readIndex + prefixSize
        guard buffer.count - start >= length else { return nil }
        readIndex = start + length
        return start..<(start + length)
    }

    /// The prefix at `index`: its size and the length it announces, or nil if it isn't complete yet.
    /// - Throws: when the prefix is malformed or the length is over the limit.
    private func prefix(at index: Int) throws -> (size: Int, length: Int)? {
        var length = 0
        var i = 0
        while index + i < buffer.count {
            let b = buffer[index + i]
            if i == 4 {
                // The 5th byte holds bits 28–30 and must end the prefix.
                guard b & 0x80 == 0, b <= 0x07 else { throw LengthPrefixError.invalidLengthPrefix }
            }
            length |= Int(b & 0x7F) << (7 * i)
            i += 1
            if b & 0x80 == 0 {
                if maxMessageSize > 0 && length > maxMessageSize { throw FramerError.messageTooLarge }
                return (i, length)
            }
        }
        return nil
    }

    private mutating func fail(_ error: any Error) {
        failure = error
        buffer = []
        readIndex = 0
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
        readIndex = 0
    }
}
