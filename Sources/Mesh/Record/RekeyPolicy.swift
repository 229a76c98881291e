/// When a link direction moves to its next key. Both ends must use the same policy: they rekey in lockstep,
/// after the same record, without telling each other.
public struct RekeyPolicy: Sendable, Equatable {
    /// Records sealed under one key (default 2³²).
    public var afterRecords: UInt64
    /// Plaintext bytes sealed under one key (default 2⁴⁰, 1 TiB).
    public var afterBytes: UInt64

    public init(afterRecords: UInt64 = 1 << 32, afterBytes: UInt64 = 1 << 40) {
        precondition(afterRecords > 0 && afterBytes > 0)
        self.afterRecords = afterRecords
        self.afterBytes = afterBytes
    }
}
