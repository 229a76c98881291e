import NetKit

/// One direction's key state: the AEAD under the current key, the record counter (the nonce), and the rekey count.
///
/// The counter numbers every record of the direction from 0 and is never sent: a record dropped, replayed or
/// reordered on the way is opened with the wrong nonce and fails. After ``RekeyPolicy`` records or bytes the key
/// becomes HKDF-Expand(key, "signalr-mesh-v2 rekey", 32); the counter keeps counting, so no (key, nonce) pair is
/// ever used twice.
struct RecordKeySchedule: Sendable {
    static let rekeyInfo = Array("\(Handshake.label) rekey".utf8)

    private(set) var aead: ChaCha20Poly1305
    private var key: [UInt8]
    let policy: RekeyPolicy
    /// Number of the next record.
    private(set) var counter: UInt64 = 0
    private var recordsUnderKey: UInt64 = 0
    private var bytesUnderKey: UInt64 = 0
    /// Keys replaced so far.
    private(set) var rekeys: UInt64 = 0

    init(key: [UInt8], policy: RekeyPolicy) {
        self.key = key
        self.aead = ChaCha20Poly1305(key: key)
        self.policy = policy
    }

    /// False once the counter has run out (2⁶⁴ − 1 records: never in practice; the link must then be redialed).
    var canAdvance: Bool { counter < .max }

    /// Counts one record of `bytes` plaintext bytes; moves to the next key when the policy says so.
    @inline(__always)
    mutating func advance(bytes: Int) {
        counter &+= 1
        recordsUnderKey &+= 1
        bytesUnderKey &+= UInt64(bytes)
        if recordsUnderKey >= policy.afterRecords || bytesUnderKey >= policy.afterBytes { rekey() }
    }

    private mutating func rekey() {
        key = HKDFSHA256.expand(prk: key, info: Self.rekeyInfo, count: ChaCha20Poly1305.keyCount)
        aead = ChaCha20Poly1305(key: key)
        recordsUnderKey = 0
        bytesUnderKey = 0
        rekeys &+= 1
    }
}
