/// The FILTERED_BEFORE part of a DATA frame, and the hole record an ``OriginLog`` entry keeps of it: the seqs of
/// the origin from ``from`` up to the frame's own were deliberately not sent to the receiver, because none of them
/// was addressed to it (targeted publish, ``MeshNode/publish(_:to:)``).
///
/// ``latest`` names, for every replica some of those skipped messages were addressed to, the highest such seq.
/// A relayer that later feeds replica Q across this hole needs nothing else: when Q's cursor is at or past
/// Q's mark (or Q has none), the hole holds nothing for Q and is FILTERED_BEFORE for Q too; otherwise Q may still
/// need what the hole held (it was in flight when a link was cut) and the relayer says NOT_HELD.
public struct FilteredRange: Sendable, Hashable {
    /// One replica the skipped messages were addressed to, and the last skipped seq addressed to it.
    public struct Mark: Sendable, Hashable {
        public var replica: String
        public var seq: UInt64

        public init(replica: String, seq: UInt64) {
            self.replica = replica
            self.seq = seq
        }
    }

    /// Most marks one frame carries (a u8 count on the wire). More than the replicas a cluster can have less two
    /// (the origin and the receiver are never among them); a sender that would need more sends the message instead.
    public static let maxMarks = 255

    /// First seq of the hole: the seq after the previous frame the sender sent on this feed (or after the
    /// receiver's resume cursor). The receiver takes the jump as contiguous only if it has delivered up to
    /// `from - 1`; otherwise frames before this one went astray and the jump is not what the sender thinks it is.
    public var from: UInt64
    /// Per destination of the skipped messages, the highest skipped seq addressed to it (at most one per replica).
    public var latest: [Mark]

    public init(from: UInt64, latest: [Mark] = []) {
        self.from = from
        self.latest = latest
    }

    /// The highest skipped seq addressed to `replica` (nil: none was).
    public func latest(for replica: String) -> UInt64? {
        var best: UInt64?
        for mark in latest where mark.replica == replica { best = max(best ?? 0, mark.seq) }
        return best
    }

    /// Records that `seq`, addressed to `destinations`, was skipped.
    public mutating func add(seq: UInt64, destinations: [String]) {
        for id in destinations {
            if let index = latest.firstIndex(where: { $0.replica == id }) {
                latest[index].seq = max(latest[index].seq, seq)
            } else {
                latest.append(Mark(replica: id, seq: seq))
            }
        }
    }

    /// How many marks recording `destinations` would add.
    public func newMarks(_ destinations: [String]) -> Int {
        var count = 0
        for id in destinations where !latest.contains(where: { $0.replica == id }) { count += 1 }
        return count
    }

    /// The same hole as seen by a reader whose cursor is `cursor`: it starts right after the cursor, and marks at or
    /// below the cursor (messages the reader is past) are dropped.
    public func after(_ cursor: UInt64) -> FilteredRange {
        FilteredRange(from: cursor &+ 1, latest: latest.filter { $0.seq > cursor })
    }
}
