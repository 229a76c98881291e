/// One entry of a LINKS frame: the sender's view of its direct link to `peerId`, and what it holds of
/// `peerId`'s messages (what it could relay).
public struct LinkReport: Sendable, Hashable {
    public var peerId: String
    public var peerEpoch: UInt64
    public var up: Bool
    /// The life of `peerId` the sender's log of its messages belongs to (0: it holds none).
    public var heldEpoch: UInt64
    /// From this seq of `heldEpoch` on, the sender holds every message of `peerId` but those the origin
    /// itself reported lost (``OriginLog/heldFrom``; 0 when `heldEpoch` is 0). A relayer that joined the
    /// life midway can't feed a receiver whose cursor is below it.
    public var heldFrom: UInt64

    public init(peerId: String, peerEpoch: UInt64, up: Bool, heldEpoch: UInt64 = 0, heldFrom: UInt64 = 0) {
        self.peerId = peerId
        self.peerEpoch = peerEpoch
        self.up = up
        self.heldEpoch = heldEpoch
        self.heldFrom = heldFrom
    }

    /// Whether a relayer with this report can feed, with no message missing that the origin may still hold,
    /// a receiver at `cursor` (its epoch and highest delivered seq of `peerId`; epoch 0 = it knows nothing,
    /// wants only new messages).
    public func covers(epoch: UInt64, seq: UInt64) -> Bool {
        if epoch == 0 { return true }
        guard heldEpoch != 0 else { return false }
        if heldEpoch == epoch { return heldFrom <= seq &+ 1 }
        // A newer life is all news to the receiver: only a log holding it from its start will do.
        return heldEpoch > epoch && heldFrom <= 1
    }
}
