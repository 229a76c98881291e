/// "(origin, epoch, seq)": used by RESUME (where to continue) and ACK (what arrived).
public struct OriginCursor: Sendable, Hashable {
    public var origin: String
    public var epoch: UInt64
    public var seq: UInt64

    public init(origin: String, epoch: UInt64, seq: UInt64) {
        self.origin = origin
        self.epoch = epoch
        self.seq = seq
    }
}
