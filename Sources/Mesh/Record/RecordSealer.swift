import NetKit

/// Seals what one side of an encrypted link sends: a value holding the direction's key schedule.
///
/// ```swift
/// var sealer = RecordSealer(key: keys.sending(as: .dialer))
/// var out = [UInt8]()
/// try sealer.seal(frameBytes, into: &out)   // one record per 64 KiB
/// connection.write(out)
/// ```
public struct RecordSealer: Sendable {
    private var schedule: RecordKeySchedule

    /// - Parameters:
    ///   - key: this direction's 32-byte key (``LinkKeys``).
    ///   - rekey: when to move to the next key; the receiving end must use the same.
    public init(key: [UInt8], rekey: RekeyPolicy = .init()) {
        schedule = RecordKeySchedule(key: key, policy: rekey)
    }

    /// Records sealed so far (the next record's number).
    public var recordsSealed: UInt64 { schedule.counter }
    /// Keys replaced so far.
    public var rekeys: UInt64 { schedule.rekeys }

    /// Bytes `plaintextCount` bytes take once sealed.
    public static func sealedCount(plaintextCount: Int) -> Int {
        let records = (plaintextCount + RecordProtocol.maxRecordBytes - 1) / RecordProtocol.maxRecordBytes
        return plaintextCount + records * RecordProtocol.overheadCount
    }

    /// Appends `plaintext` to `out` as records of at most ``RecordProtocol/maxRecordBytes`` each (nothing for empty
    /// input).
    public mutating func seal(_ plaintext: UnsafeRawBufferPointer, into out: inout [UInt8]) throws(RecordError) {
        guard !plaintext.isEmpty, let source = plaintext.baseAddress else { return }
        out.reserveCapacity(out.count + Self.sealedCount(plaintextCount: plaintext.count))
        var offset = 0
        while offset < plaintext.count {
            guard schedule.canAdvance else { throw .counterExhausted }
            let count = min(RecordProtocol.maxRecordBytes, plaintext.count - offset)
            let start = out.count
            out.appendUInt32(UInt32(count))
            // As typed bytes: one memcpy (a raw buffer goes through the generic, byte-at-a-time path).
            out.append(contentsOf: UnsafeBufferPointer(start: (source + offset).assumingMemoryBound(to: UInt8.self), count: count))
            out.append(contentsOf: repeatElement(0, count: ChaCha20Poly1305.tagCount))
            let counter = schedule.counter
            let aead = schedule.aead
            out.withUnsafeMutableBytes { raw in
                let header = UnsafeRawBufferPointer(rebasing: raw[start..<(start + RecordProtocol.headerCount)])
                let textStart = start + RecordProtocol.headerCount
                let text = UnsafeMutableRawBufferPointer(rebasing: raw[textStart..<(textStart + count)])
                let tag = UnsafeMutableRawBufferPointer(
                    rebasing: raw[(textStart + count)..<(textStart + count + ChaCha20Poly1305.tagCount)])
                aead.seal(counter: counter, aad: header, text: text, tag: tag)
            }
            schedule.advance(bytes: count)
            offset += count
        }
    }

    /// Appends `plaintext` to `out` as records (see ``seal(_:into:)-(UnsafeRawBufferPointer,_)``).
    public mutating func seal(_ plaintext: [UInt8], into out: inout [UInt8]) throws(RecordError) {
        var failure: RecordError?
        plaintext.withUnsafeBytes { raw in
            do throws(RecordError) {
                try seal(raw, into: &out)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }
}
