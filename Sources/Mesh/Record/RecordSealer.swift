import NetKit

/// Record layer constants of an encrypted link.
///
/// After the handshake of an encrypted link every byte it carries, in each direction, is a sequence of records:
/// `[u32 BE plaintext length][ciphertext][16-byte tag]`, ChaCha20-Poly1305 under that direction's key, the nonce
/// being the record's number (never sent), the length header as associated data. The plaintext stream inside is
/// the ordinary frame stream (``MeshFrame``), cut into records wherever the sender wrote.
public enum RecordProtocol {
    /// Largest plaintext of one record (64 KiB): what a receiver must buffer before it can authenticate anything.
    public static let maxRecordBytes = 64 << 10
    /// Bytes of the length header.
    public static let headerCount = 4
    /// Bytes added to every record (header and tag).
    public static let overheadCount = headerCount + ChaCha20Poly1305.tagCount
}

/// Why a link's records could not be sealed or opened. Any of these drops the link.
public enum RecordError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyRecord
    case recordTooLarge(length: Int, limit: Int)
    /// Wrong key or counter, or any byte changed (including a record dropped, replayed or reordered).
    case authenticationFailed(record: UInt64)
    /// 2⁶⁴ − 1 records in one direction: the counter would repeat.
    case counterExhausted

    public var description: String {
        switch self {
        case .emptyRecord: return "empty record"
        case .recordTooLarge(let length, let limit): return "record of \(length) bytes exceeds the \(limit)-byte limit"
        case .authenticationFailed(let record): return "record authentication failed (record \(record))"
        case .counterExhausted: return "record counter exhausted"
        }
    }
}

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
            out.append(contentsOf: UnsafeRawBufferPointer(start: source + offset, count: count))
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
