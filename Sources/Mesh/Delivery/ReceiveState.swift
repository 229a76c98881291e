/// What this node has delivered from one origin: the life (epoch) it knows and the highest seq
/// delivered in it. Decides, for each arriving DATA frame, whether to deliver it.
///
/// Every path that feeds us an origin is FIFO from a resume point ≤ `highest + 1`, so a seq beyond
/// `highest + 1` without GAP_BEFORE can only come from a second path racing ahead (a relay and the
/// direct link both feeding us); the missing messages will arrive on the other path, so it is dropped.
///
/// A jump with FILTERED_BEFORE (the sender skipped messages not addressed to us) is contiguous when the hole starts
/// right after what we have: `from ≤ highest + 1`. A hole starting further on means frames of that feed before it
/// went astray, so the jump is out of order like any other.
///
/// `highest` counts every message of the origin we accepted, whether it was for us or only held for relaying.
public struct ReceiveState: Sendable, Equatable {
    /// The outcome for one DATA frame.
    public enum Verdict: Sendable, Equatable {
        /// Deliver it. `gap` = messages knowingly skipped before it (GAP_BEFORE); `newLife` = first
        /// message of a newer epoch (the origin restarted).
        case deliver(gap: UInt64, newLife: Bool)
        /// Already delivered (seq ≤ highest).
        case duplicate
        /// From an older life of the origin.
        case stale
        /// Ahead of `highest + 1` without GAP_BEFORE; the missing ones are still coming.
        case outOfOrder
    }

    /// Known epoch of the origin (0 = nothing known).
    public private(set) var epoch: UInt64
    /// Highest seq delivered in `epoch`.
    public private(set) var highest: UInt64

    public init(epoch: UInt64 = 0, highest: UInt64 = 0) {
        self.epoch = epoch
        self.highest = highest
    }

    /// Judges DATA(epoch, seq, GAP_BEFORE, FILTERED_BEFORE from `filteredFrom`) and records it if delivered.
    public mutating func receive(epoch: UInt64, seq: UInt64, gapBefore: Bool, filteredFrom: UInt64? = nil) -> Verdict {
        if epoch < self.epoch { return .stale }
        if epoch > self.epoch {
            // A new life. If the sender says it skipped messages before this one, seqs 1..<seq were
            // lost to us; otherwise we joined mid-life on purpose ("send only new messages").
            let newLife = self.epoch != 0
            self.epoch = epoch
            highest = seq
            return .deliver(gap: gapBefore ? seq &- 1 : 0, newLife: newLife)
        }
        if seq <= highest { return .duplicate }
        if seq == highest + 1 {
            highest = seq
            return .deliver(gap: 0, newLife: false)
        }
        if !gapBefore, let from = filteredFrom, from <= highest + 1 {
            // Everything between was filtered out for us on purpose: nothing is missing.
            highest = seq
            return .deliver(gap: 0, newLife: false)
        }
        guard gapBefore else { return .outOfOrder }
        let gap = seq - highest - 1
        highest = seq
        return .deliver(gap: gap, newLife: false)
    }

    /// Records that the origin started a newer life `epoch` (learned from its HELLO) before any of its
    /// messages arrived: older-life frames still in flight through relays are dropped as stale from now
    /// on, and the next RESUME asks for the new life from its start.
    ///
    /// Ignored while nothing is known of the origin (epoch 0): then we keep asking for "new messages
    /// only", which is what a freshly started node wants (its clients are new).
    public mutating func observeEpoch(_ epoch: UInt64) {
        guard self.epoch != 0, epoch > self.epoch else { return }
        self.epoch = epoch
        highest = 0
    }
}
