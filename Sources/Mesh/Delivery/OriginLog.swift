/// The retained messages of one origin's current life, in seq order: the replay buffer for links
/// that fell behind and the source that relayed feeds read from.
///
/// Bounded by message count and by payload bytes; the oldest messages go first. A reader whose
/// position has been evicted is told how many messages it skipped, so the gap is reported instead
/// of silently lost. Seqs increase but need not be contiguous: the log of a *relayed* origin holds
/// only what this node itself received, from the point it joined the origin's life (``heldFrom``), and
/// between two entries it may lack messages the origin did not send it because none was for it (targeted
/// publish): such an entry records that hole (``Entry/filtered``), and readers crossing it are told so.
public struct OriginLog: Sendable {
    /// One retained message.
    public struct Entry: Sendable, Equatable {
        public var seq: UInt64
        public var payload: [UInt8]
        /// The replicas the message is for (nil: every replica).
        public var destinations: [String]? = nil
        /// The messages right before this one that the log lacks because they were filtered out on the way here
        /// (FILTERED_BEFORE), with the last seq each of their destinations had among them.
        public var filtered: FilteredRange? = nil
    }

    /// What lies between a reader's cursor and the next entry it is handed.
    public enum Skip: Sendable, Equatable {
        /// Nothing: the entry follows the cursor.
        case none
        /// Messages this log held (or was told were lost by the origin) and evicted: gone for good.
        case evicted
        /// Messages before ``heldFrom``, which this log never held: someone else (the origin) may still
        /// hold them.
        case unheld
        /// Messages filtered out on their way here (none was for this node): the entry's hole record, which
        /// covers the whole jump. Whether the reader needs any of them depends on who it is.
        case filtered(FilteredRange)
    }

    /// Result of ``read(after:maxBytes:maxCount:perEntryOverhead:_:)``.
    public struct ReadResult: Sendable, Equatable {
        /// Seq of the last entry handed out (the reader's new cursor); equals `after` if none.
        public var cursor: UInt64
        /// Entries handed out.
        public var count: Int
        /// Messages between the old cursor and what was handed out that this log no longer (or never) held.
        public var skipped: UInt64
        /// The part of `skipped` this log never held (before ``heldFrom``).
        public var unheld: UInt64 = 0
        /// The part of `skipped` that lies in holes of messages filtered out on their way here (``Skip/filtered``).
        public var filtered: UInt64 = 0
        /// Entries looked at but not handed out (the reader's filter turned them down; see ``scan(after:maxBytes:maxCount:perEntryOverhead:_:)``).
        public var declined: Int = 0
    }

    public static let defaultMaxCount = 100_000
    public static let defaultMaxBytes = 64 << 20

    /// Which life of the origin these messages belong to (0 = none seen yet).
    public private(set) var epoch: UInt64
    /// Highest seq ever appended in this epoch (0 = none). Survives eviction.
    public private(set) var lastSeq: UInt64 = 0
    /// Payload bytes currently retained.
    public private(set) var byteCount = 0
    /// Messages evicted in this epoch.
    public private(set) var evictedCount: UInt64 = 0
    /// From this seq on, the log has held every message of its life (up to ``lastSeq``) except the ones it
    /// evicted, was told were lost, or knows were filtered out on their way here: the seq of its first message
    /// (or the start of the hole recorded with it), or of the first one after a jump over messages it was not
    /// told were lost (see ``append(seq:payload:destinations:filtered:unheldBefore:)``). 0 = nothing appended.
    public private(set) var heldFrom: UInt64 = 0

    public let maxCount: Int
    public let maxBytes: Int

    // A ring: `slots` (a power of two of them, or none) holds the `count` retained entries from `start` on,
    // wrapping around; eviction advances `start` and an append reuses the slot. Both ends O(1), nothing moved
    // but when the ring grows.
    private var slots: [Entry] = []
    private var start = 0
    /// Number of messages retained.
    public private(set) var count = 0

    /// - Parameters:
    ///   - epoch: the origin's life these messages belong to.
    ///   - maxCount: most messages retained (default 100 000).
    ///   - maxBytes: most payload bytes retained (default 64 MiB). The newest message is always kept,
    ///     even if it alone is bigger.
    public init(epoch: UInt64 = 0, maxCount: Int = OriginLog.defaultMaxCount, maxBytes: Int = OriginLog.defaultMaxBytes) {
        precondition(maxCount >= 1 && maxBytes >= 0)
        self.epoch = epoch
        self.maxCount = maxCount
        self.maxBytes = maxBytes
    }

    public var isEmpty: Bool { count == 0 }
    /// Seq of the oldest retained message.
    public var firstSeq: UInt64? { isEmpty ? nil : slots[start].seq }

    /// Where the retained entry number `index` (0 = oldest) sits in `slots`.
    @inline(__always) private func slot(_ index: Int) -> Int { (start &+ index) & (slots.count &- 1) }

    /// Starts a new life of the origin: everything retained belongs to the old one and is dropped.
    public mutating func reset(epoch: UInt64) {
        self.epoch = epoch
        slots = []
        start = 0
        count = 0
        lastSeq = 0
        byteCount = 0
        evictedCount = 0
        heldFrom = 0
    }

    /// Appends the next message. `seq` must be greater than every seq appended before.
    ///
    /// - Parameters:
    ///   - destinations: the replicas the message is for (nil: all).
    ///   - filtered: the hole right before it (FILTERED_BEFORE): messages filtered out on their way here. Kept
    ///     with the entry for readers crossing it; the first message of the log holds from the hole's start.
    ///   - unheldBefore: the messages between the previous one and this one were skipped although
    ///     the origin may still hold them (a relayer's gap taken as a last resort): ``heldFrom`` moves here.
    ///     false: a jump is a loss the origin itself reported (its log evicted them), or a filtered hole. The
    ///     first message appended always sets ``heldFrom``.
    public mutating func append(
        seq: UInt64, payload: __owned [UInt8], destinations: __owned [String]? = nil, filtered: __owned FilteredRange? = nil,
        unheldBefore: Bool = false
    ) {
        precondition(seq > lastSeq, "OriginLog seqs must increase")
        if lastSeq == 0 {
            heldFrom = filtered.map { max(1, min($0.from, seq)) } ?? seq
        } else if unheldBefore && seq != lastSeq + 1 {
            heldFrom = seq
        }
        // A hole record is kept only where there is a hole.
        let hole = seq == lastSeq &+ 1 && lastSeq != 0 ? nil : filtered
        if count == slots.count { grow() }
        slots[slot(count)] = Entry(seq: seq, payload: payload, destinations: destinations, filtered: hole)
        count += 1
        lastSeq = seq
        byteCount += payload.count
        while count > 1 && (count > maxCount || byteCount > maxBytes) { _ = evictOldest() }
    }

    /// Twice the slots (at least 16), the retained entries moved to the front.
    private mutating func grow() {
        let capacity = max(16, slots.count * 2)
        var bigger = [Entry]()
        bigger.reserveCapacity(capacity)
        for index in 0..<count { bigger.append(slots[slot(index)]) }
        while bigger.count < capacity { bigger.append(Entry(seq: 0, payload: [])) }
        slots = bigger
        start = 0
    }

    /// ``append(seq:payload:destinations:filtered:unheldBefore:)`` with the payload copied from `bytes`; returns
    /// the stored payload. A full log reuses the storage of the message this append evicts when it has the same
    /// size and nobody else holds it: in a steady stream of same-size messages, no allocation per message.
    @discardableResult
    public mutating func append(
        seq: UInt64, copying bytes: UnsafeRawBufferPointer, destinations: [String]? = nil,
        filtered: FilteredRange? = nil, unheldBefore: Bool = false
    ) -> [UInt8] {
        precondition(seq > lastSeq, "OriginLog seqs must increase")
        let typed = bytes.assumingMemoryBound(to: UInt8.self)
        var payload: [UInt8]
        if count >= maxCount {
            // The append would evict it anyway (the newest is never the one evicted: count ≥ 1 here).
            payload = evictOldest()
            if payload.count == typed.count {
                // Written over in place (copied first only if someone else still holds it).
                if !typed.isEmpty { payload.withUnsafeMutableBytes { $0.copyMemory(from: bytes) } }
            } else {
                payload = Array(typed)
            }
        } else {
            payload = Array(typed)
        }
        append(seq: seq, payload: payload, destinations: destinations, filtered: filtered, unheldBefore: unheldBefore)
        return payload
    }

    /// Drops the oldest retained message and returns its payload.
    private mutating func evictOldest() -> [UInt8] {
        var payload: [UInt8] = []
        swap(&payload, &slots[start].payload)
        if slots[start].destinations != nil { slots[start].destinations = nil }
        if slots[start].filtered != nil { slots[start].filtered = nil }
        byteCount -= payload.count
        start = (start + 1) & (slots.count - 1)
        count -= 1
        evictedCount += 1
        return payload
    }

    /// The retained entry with `seq`, if any.
    public func entry(seq: UInt64) -> Entry? {
        let index = firstIndex(after: seq &- 1)
        guard index < count, slots[slot(index)].seq == seq else { return nil }
        return slots[slot(index)]
    }

    /// Payload bytes retained for messages with seq > `seq`.
    public func bytes(after seq: UInt64) -> Int {
        var total = 0
        var index = firstIndex(after: seq)
        while index < count {
            total += slots[slot(index)].payload.count
            index += 1
        }
        return total
    }

    /// Number of retained messages with seq > `seq`.
    public func count(after seq: UInt64) -> Int { count - firstIndex(after: seq) }

    /// Hands out retained messages with seq > `after`, oldest first, stopping before `maxBytes` would
    /// be exceeded (at least one message is always handed out if any is available) or after `maxCount`
    /// messages. Each message counts as its payload plus `perEntryOverhead` bytes (a caller filling a
    /// write buffer passes its framing size).
    ///
    /// `body` receives each entry and what was skipped right before it: a jump in seq means the reader can
    /// never get the missing ones from here. ``Skip/evicted`` (the DATA frame's GAP_BEFORE) when the jump
    /// starts at or after ``heldFrom``; ``Skip/unheld`` (NOT_HELD) when it reaches below it, since this log
    /// never had those; ``Skip/filtered`` when the entry's hole record covers the whole jump.
    @discardableResult
    public func read(
        after: UInt64, maxBytes: Int = .max, maxCount: Int = .max, perEntryOverhead: Int = 0,
        _ body: (_ entry: Entry, _ skip: Skip) -> Void
    ) -> ReadResult {
        scan(after: after, maxBytes: maxBytes, maxCount: maxCount, perEntryOverhead: perEntryOverhead) {
            body($0, $1)
            return true
        }
    }

    /// ``read(after:maxBytes:maxCount:perEntryOverhead:_:)`` for a reader that filters: `body` returns whether it
    /// took the entry. Declined entries move the cursor on but count toward neither `maxBytes` nor `maxCount` (nor
    /// the result's `count`); the skip handed with an entry is always relative to the previous entry looked at.
    @discardableResult
    public func scan(
        after: UInt64, maxBytes: Int = .max, maxCount: Int = .max, perEntryOverhead: Int = 0,
        _ body: (_ entry: Entry, _ skip: Skip) -> Bool
    ) -> ReadResult {
        var index = firstIndex(after: after)
        var cursor = after
        var handed = 0
        var bytes = 0
        var skipped: UInt64 = 0
        var unheld: UInt64 = 0
        var filtered: UInt64 = 0
        var declined = 0
        while index < count && handed < maxCount {
            let entry = slots[slot(index)]
            let size = entry.payload.count + perEntryOverhead
            if handed > 0 && bytes > maxBytes - size { break }
            var skip = Skip.none
            if entry.seq != cursor &+ 1 {
                let count = entry.seq - cursor - 1
                skipped += count
                if cursor &+ 1 < heldFrom {
                    skip = .unheld
                    unheld += count
                } else if let hole = entry.filtered, hole.from <= cursor &+ 1 {
                    skip = .filtered(hole)
                    filtered += count
                } else {
                    skip = .evicted
                }
            }
            if body(entry, skip) {
                bytes += size
                handed += 1
            } else {
                declined += 1
            }
            cursor = entry.seq
            index += 1
        }
        return ReadResult(
            cursor: cursor, count: handed, skipped: skipped, unheld: unheld, filtered: filtered, declined: declined)
    }

    /// Number (0 = oldest) of the first retained entry with seq > `seq`, `count` if none (binary search; seqs are
    /// increasing).
    private func firstIndex(after seq: UInt64) -> Int {
        var low = 0
        var high = count
        // Fast path for the own-origin log, whose seqs are contiguous.
        if low < high {
            let first = slots[slot(low)].seq
            if seq < first { return low }
            let distance = seq - first
            if distance < UInt64(high - low) {
                let guess = low + Int(distance) + 1
                if slots[slot(guess - 1)].seq == seq { return guess }
            }
        }
        while low < high {
            let mid = (low + high) / 2
            if slots[slot(mid)].seq <= seq { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
