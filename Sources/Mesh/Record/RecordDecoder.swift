import NetKit

/// Opens what the other side of an encrypted link sends: feed it whatever `read()` returned, then pull plaintext.
///
/// The length header is checked as soon as its 4 bytes are in, before the record is buffered, so at most one
/// record (64 KiB + 20 bytes) is ever held unauthenticated. A record is verified before it is decrypted, and its
/// plaintext is handed out only if it verified. After an error the stream is unusable (the link is dropped) and
/// the decoder keeps returning the same error.
public struct RecordDecoder: Sendable {
    private var schedule: RecordKeySchedule
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var failure: RecordError?

    /// - Parameters:
    ///   - key: the peer's sending key for this direction (``LinkKeys``).
    ///   - rekey: when the peer moves to its next key (the same policy as its ``RecordSealer``).
    public init(key: [UInt8], rekey: RekeyPolicy = .init()) {
        schedule = RecordKeySchedule(key: key, policy: rekey)
    }

    /// Bytes received but not yet opened.
    public var bufferedCount: Int { buffer.count - readIndex }
    /// Records opened so far.
    public var recordsOpened: UInt64 { schedule.counter }
    /// Keys replaced so far.
    public var rekeys: UInt64 { schedule.rekeys }

    /// Appends received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfUseful()
        // As typed bytes: one memcpy (a raw buffer goes through the generic, byte-at-a-time path).
        buffer.append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// Appends received bytes.
    public mutating func append(_ bytes: [UInt8]) {
        compactIfUseful()
        buffer.append(contentsOf: bytes)
    }

    /// Opens the next complete record and passes its plaintext to `body` (valid only during the call).
    ///
    /// - Returns: false when more bytes are needed.
    public mutating func next(_ body: (UnsafeRawBufferPointer) -> Void) throws(RecordError) -> Bool {
        if let failure { throw failure }
        let available = buffer.count - readIndex
        guard available >= RecordProtocol.headerCount else { return false }
        let length =
            Int(buffer[readIndex]) << 24 | Int(buffer[readIndex + 1]) << 16 | Int(buffer[readIndex + 2]) << 8
            | Int(buffer[readIndex + 3])
        if length == 0 { return try fail(.emptyRecord) }
        if length > RecordProtocol.maxRecordBytes {
            return try fail(.recordTooLarge(length: length, limit: RecordProtocol.maxRecordBytes))
        }
        guard available >= RecordProtocol.overheadCount + length else { return false }
        guard schedule.canAdvance else { return try fail(.counterExhausted) }
        let start = readIndex
        let counter = schedule.counter
        let aead = schedule.aead
        let opened = buffer.withUnsafeMutableBytes { raw in
            let header = UnsafeRawBufferPointer(rebasing: raw[start..<(start + RecordProtocol.headerCount)])
            let textStart = start + RecordProtocol.headerCount
            let text = UnsafeMutableRawBufferPointer(rebasing: raw[textStart..<(textStart + length)])
            let tag = UnsafeRawBufferPointer(
                rebasing: raw[(textStart + length)..<(textStart + length + ChaCha20Poly1305.tagCount)])
            guard aead.open(counter: counter, aad: header, text: text, tag: tag) else { return false }
            body(UnsafeRawBufferPointer(text))
            return true
        }
        guard opened else { return try fail(.authenticationFailed(record: counter)) }
        schedule.advance(bytes: length)
        readIndex = start + RecordProtocol.overheadCount + length
        if readIndex == buffer.count {
            // Common case: the read ended on a record boundary; reuse the storage.
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            readIndex = 0
        }
        return true
    }

    /// The next record's plaintext as an array, or nil when more bytes are needed (tests and cold paths).
    public mutating func next() throws(RecordError) -> [UInt8]? {
        var plaintext: [UInt8]?
        let got = try next { plaintext = Array($0) }
        return got ? plaintext : nil
    }

    private mutating func fail(_ error: RecordError) throws(RecordError) -> Bool {
        failure = error
        throw error
    }

    /// Drops consumed bytes once they are at least half the buffer, keeping appends amortised O(1).
    private mutating func compactIfUseful() {
        guard readIndex > 0, readIndex >= buffer.count - readIndex else { return }
        buffer.removeSubrange(0..<readIndex)
        readIndex = 0
    }
}
