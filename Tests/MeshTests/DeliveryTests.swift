import Testing

@testable import Mesh

private func collect(_ log: OriginLog, after: UInt64, maxBytes: Int = .max, maxCount: Int = .max)
    -> (seqs: [UInt64], gaps: [UInt64], result: OriginLog.ReadResult)
{
    var seqs = [UInt64]()
    var gaps = [UInt64]()
    let result = log.read(after: after, maxBytes: maxBytes, maxCount: maxCount) { entry, skip in
        seqs.append(entry.seq)
        if skip != .none { gaps.append(entry.seq) }
    }
    return (seqs, gaps, result)
}

@Suite struct OriginLogTests {
    @Test func appendAndReadInOrder() {
        var log = OriginLog(epoch: 7)
        for seq in 1...5 { log.append(seq: UInt64(seq), payload: [UInt8(seq)]) }
        #expect(log.count == 5 && log.firstSeq == 1 && log.lastSeq == 5 && log.byteCount == 5)
        let all = collect(log, after: 0)
        #expect(all.seqs == [1, 2, 3, 4, 5] && all.gaps.isEmpty)
        #expect(all.result == OriginLog.ReadResult(cursor: 5, count: 5, skipped: 0))
        let tail = collect(log, after: 3)
        #expect(tail.seqs == [4, 5] && tail.result.cursor == 5)
        let none = collect(log, after: 5)
        #expect(none.seqs.isEmpty && none.result == OriginLog.ReadResult(cursor: 5, count: 0, skipped: 0))
        // A reader ahead of the log (relay lagging behind what the receiver has) gets nothing yet.
        #expect(collect(log, after: 9).seqs.isEmpty)
        #expect(log.entry(seq: 3)?.payload == [3])
        #expect(log.entry(seq: 6) == nil)
    }

    @Test func countBoundEvictsFromFrontAndReportsGap() {
        var log = OriginLog(epoch: 1, maxCount: 3)
        for seq in 1...10 { log.append(seq: UInt64(seq), payload: [0]) }
        #expect(log.count == 3 && log.firstSeq == 8 && log.lastSeq == 10 && log.evictedCount == 7)
        let read = collect(log, after: 2)
        #expect(read.seqs == [8, 9, 10])
        #expect(read.gaps == [8])
        #expect(read.result.skipped == 5)
        // A reader whose cursor is still retained sees no gap.
        #expect(collect(log, after: 7).gaps.isEmpty)
        #expect(collect(log, after: 0).result.skipped == 7)
    }

    @Test func byteBoundEvictsButKeepsNewest() {
        var log = OriginLog(epoch: 1, maxCount: 100, maxBytes: 10)
        log.append(seq: 1, payload: [UInt8](repeating: 0, count: 4))
        log.append(seq: 2, payload: [UInt8](repeating: 0, count: 4))
        #expect(log.count == 2 && log.byteCount == 8)
        log.append(seq: 3, payload: [UInt8](repeating: 0, count: 4))
        #expect(log.count == 2 && log.firstSeq == 2 && log.byteCount == 8)
        // One message bigger than the whole bound is still kept (alone).
        log.append(seq: 4, payload: [UInt8](repeating: 0, count: 50))
        #expect(log.count == 1 && log.firstSeq == 4 && log.byteCount == 50)
    }

    @Test func readRespectsByteAndCountLimits() {
        var log = OriginLog(epoch: 1)
        for seq in 1...10 { log.append(seq: UInt64(seq), payload: [UInt8](repeating: 1, count: 10)) }
        #expect(collect(log, after: 0, maxBytes: 35).seqs == [1, 2, 3])
        #expect(collect(log, after: 0, maxBytes: 1).seqs == [1])  // always at least one
        #expect(collect(log, after: 4, maxCount: 2).seqs == [5, 6])
        #expect(log.bytes(after: 7) == 30 && log.count(after: 7) == 3)
    }

    @Test func relayedLogWithHolesFlagsEachJump() {
        var log = OriginLog(epoch: 1)
        for seq: UInt64 in [3, 4, 8, 9] { log.append(seq: seq, payload: []) }
        let read = collect(log, after: 2)
        #expect(read.seqs == [3, 4, 8, 9] && read.gaps == [8] && read.result.skipped == 3)
        #expect(collect(log, after: 5).seqs == [8, 9])
        #expect(collect(log, after: 5).gaps == [8])
        #expect(log.entry(seq: 8) != nil && log.entry(seq: 5) == nil)
    }

    /// A relayer tells what it never held (before `heldFrom`: the origin may still have it) from what was evicted.
    @Test func skipsBeforeHeldFromAreUnheld() {
        var joined = OriginLog(epoch: 1)
        for seq: UInt64 in 14...23 { joined.append(seq: seq, payload: []) }
        #expect(joined.heldFrom == 14)
        var skips = [OriginLog.Skip]()
        let read = joined.read(after: 3, maxCount: 2) { _, skip in skips.append(skip) }
        #expect(skips == [.unheld, .none] && read.skipped == 10 && read.unheld == 10 && read.cursor == 15)
        #expect(collect(joined, after: 13).gaps.isEmpty)

        // Evicted after joining: a reader at or past heldFrom gets an eviction gap, one before it an unheld skip.
        var evicting = OriginLog(epoch: 1, maxCount: 3)
        for seq: UInt64 in 5...10 { evicting.append(seq: seq, payload: []) }
        var kinds = [OriginLog.Skip]()
        let fromHeld = evicting.read(after: 5) { _, skip in kinds.append(skip) }
        #expect(kinds == [.evicted, .none, .none] && fromHeld.unheld == 0 && fromHeld.skipped == 2)
        kinds = []
        #expect(evicting.read(after: 1) { _, skip in kinds.append(skip) }.unheld == 6)
        #expect(kinds.first == .unheld)

        // A skip taken as a last resort (unheldBefore) moves heldFrom; one the origin reported does not.
        var holes = OriginLog(epoch: 1)
        for seq: UInt64 in 1...5 { holes.append(seq: seq, payload: []) }
        holes.append(seq: 9, payload: [], unheldBefore: false)
        #expect(holes.heldFrom == 1)
        holes.append(seq: 20, payload: [], unheldBefore: true)
        #expect(holes.heldFrom == 20)
        kinds = []
        holes.read(after: 2) { _, skip in kinds.append(skip) }
        #expect(kinds == [.none, .none, .none, .unheld, .unheld])
        holes.reset(epoch: 2)
        #expect(holes.heldFrom == 0)
    }

    /// Holes of messages filtered out on their way here (FILTERED_BEFORE) are recorded on the entry after them, and a
    /// reader crossing one is handed the record, not an eviction gap.
    @Test func filteredHolesAreRecordedAndHandedToReaders() {
        var log = OriginLog(epoch: 1, maxCount: 4)
        let first = FilteredRange(from: 3, latest: [.init(replica: "b", seq: 6)])
        // The first entry holds from the start of its hole.
        log.append(seq: 7, payload: [7], destinations: ["b"], filtered: first)
        #expect(log.heldFrom == 3 && log.entry(seq: 7)?.filtered == first && log.entry(seq: 7)?.destinations == ["b"])
        // A record on a contiguous entry describes no hole: dropped.
        log.append(seq: 8, payload: [8], filtered: FilteredRange(from: 8))
        #expect(log.entry(seq: 8)?.filtered == nil)
        let second = FilteredRange(from: 9, latest: [.init(replica: "c", seq: 10)])
        log.append(seq: 11, payload: [11], filtered: second)
        #expect(log.heldFrom == 3)

        var skips = [OriginLog.Skip]()
        var read = log.read(after: 4) { _, skip in skips.append(skip) }
        #expect(skips == [.filtered(first), .none, .filtered(second)])
        #expect(read.skipped == 4 && read.filtered == 4 && read.unheld == 0 && read.cursor == 11)
        // Before the first hole's start: never held.
        skips = []
        read = log.read(after: 1, maxCount: 1) { _, skip in skips.append(skip) }
        #expect(skips == [.unheld] && read.unheld == 5 && read.filtered == 0)

        // Evicting the entries before a hole: a reader from before the hole's start lost messages there (gap); one
        // inside it crosses only the hole.
        log.append(seq: 12, payload: [])
        log.append(seq: 13, payload: [])
        log.append(seq: 14, payload: [])
        #expect(log.firstSeq == 11)
        skips = []
        read = log.read(after: 7, maxCount: 1) { _, skip in skips.append(skip) }
        #expect(skips == [.evicted] && read.filtered == 0 && read.skipped == 3)
        skips = []
        read = log.read(after: 8, maxCount: 1) { _, skip in skips.append(skip) }
        #expect(skips == [.filtered(second)] && read.filtered == 2)
    }

    /// A filtering reader (the origin feeding one peer) passes entries over without spending its budget on them.
    @Test func scanDeclinesEntriesWithoutCountingThem() {
        var log = OriginLog(epoch: 1)
        for seq in 1...10 {
            log.append(seq: UInt64(seq), payload: [UInt8](repeating: 0, count: 10), destinations: seq % 2 == 0 ? nil : ["x"])
        }
        var taken = [UInt64]()
        let result = log.scan(after: 0, maxCount: 3) { entry, _ in
            guard entry.destinations == nil else { return false }
            taken.append(entry.seq)
            return true
        }
        #expect(taken == [2, 4, 6] && result.count == 3 && result.declined == 3 && result.cursor == 6)
        let bytes = log.scan(after: 0, maxBytes: 25) { entry, _ in entry.destinations == nil }
        #expect(bytes.count == 2 && bytes.cursor == 4)
    }

    @Test func linkReportCoversACursorOnlyFromWhatItHolds() {
        let report = LinkReport(peerId: "c", peerEpoch: 7, up: true, heldEpoch: 7, heldFrom: 14)
        #expect(report.covers(epoch: 7, seq: 13) && report.covers(epoch: 7, seq: 40))
        #expect(!report.covers(epoch: 7, seq: 12))
        #expect(report.covers(epoch: 0, seq: 0))  // a receiver that knows nothing wants only new messages
        #expect(!report.covers(epoch: 8, seq: 0))  // an older life than the receiver's
        #expect(!report.covers(epoch: 6, seq: 99))  // a newer life, held only from seq 14
        #expect(LinkReport(peerId: "c", peerEpoch: 7, up: true, heldEpoch: 7, heldFrom: 1).covers(epoch: 6, seq: 99))
        #expect(!LinkReport(peerId: "c", peerEpoch: 7, up: true).covers(epoch: 7, seq: 0))
    }

    @Test func resetStartsNewLife() {
        var log = OriginLog(epoch: 1)
        log.append(seq: 1, payload: [1])
        log.reset(epoch: 2)
        #expect(log.epoch == 2 && log.isEmpty && log.lastSeq == 0 && log.byteCount == 0)
        log.append(seq: 1, payload: [2])
        #expect(collect(log, after: 0).seqs == [1])
    }

    /// The receiving link's append: copied from borrowed bytes, and on a full log written into the storage of the
    /// message it evicts, but never into one somebody else still holds.
    @Test func appendCopyingReusesOnlyUnheldStorage() {
        var log = OriginLog(epoch: 1, maxCount: 3)
        var held = [[UInt8]]()
        for seq in UInt64(1)...10 {
            let bytes: [UInt8] = [UInt8(seq), UInt8(seq), UInt8(seq)]
            let stored = bytes.withUnsafeBytes { log.append(seq: seq, copying: $0) }
            #expect(stored == bytes)
            // Keep every other payload, as a consumer of onDeliver might.
            if seq % 2 == 0 { held.append(stored) }
        }
        #expect(log.count == 3 && log.firstSeq == 8 && log.evictedCount == 7)
        for seq in UInt64(8)...10 { #expect(log.entry(seq: seq)?.payload == [UInt8(seq), UInt8(seq), UInt8(seq)]) }
        #expect(held == [2, 4, 6, 8, 10].map { [UInt8($0), UInt8($0), UInt8($0)] })
        // Other sizes and an empty payload; the byte bound still holds.
        var small = OriginLog(epoch: 1, maxCount: 2, maxBytes: 5)
        for (seq, count) in [(1, 4), (2, 1), (3, 0), (4, 4), (5, 2)] {
            let bytes = [UInt8](repeating: UInt8(seq), count: count)
            _ = bytes.withUnsafeBytes { small.append(seq: UInt64(seq), copying: $0) }
        }
        #expect(collect(small, after: 0).seqs == [5] && small.byteCount == 2 && small.evictedCount == 4)
        #expect(small.entry(seq: 5)?.payload == [5, 5])
    }

    /// The ring wraps and grows with entries in it: every read still sees seq order.
    @Test func ringKeepsOrderAcrossWrapsAndGrowth() {
        var log = OriginLog(epoch: 1, maxCount: 37)
        var seq: UInt64 = 0
        for round in 1...200 {
            for _ in 0..<(round % 7 + 1) {
                seq += 1
                log.append(seq: seq, payload: [UInt8(truncatingIfNeeded: seq)])
            }
            let first = seq > 37 ? seq - 36 : 1
            #expect(log.firstSeq == first)
            #expect(collect(log, after: 0).seqs == Array(first...seq))
            #expect(log.count(after: seq - 1) == 1 && log.entry(seq: seq)?.payload == [UInt8(truncatingIfNeeded: seq)])
        }
    }

    @Test func longRunStaysBoundedAndCompacts() {
        var log = OriginLog(epoch: 1, maxCount: 1000)
        for seq in 1...50_000 { log.append(seq: UInt64(seq), payload: [UInt8(truncatingIfNeeded: seq)]) }
        #expect(log.count == 1000 && log.firstSeq == 49_001)
        #expect(collect(log, after: 49_500).seqs.count == 500)
        #expect(log.entry(seq: 49_999)?.payload == [UInt8(truncatingIfNeeded: 49_999)])
    }
}

@Suite struct ReceiveStateTests {
    @Test func inOrderDeliveryAndDuplicates() {
        var state = ReceiveState()
        #expect(state.receive(epoch: 5, seq: 1, gapBefore: false) == .deliver(gap: 0, newLife: false))
        #expect(state.receive(epoch: 5, seq: 2, gapBefore: false) == .deliver(gap: 0, newLife: false))
        #expect(state.receive(epoch: 5, seq: 2, gapBefore: false) == .duplicate)
        #expect(state.receive(epoch: 5, seq: 1, gapBefore: true) == .duplicate)
        #expect(state.epoch == 5 && state.highest == 2)
    }

    @Test func firstContactMidLifeIsNotAGap() {
        var state = ReceiveState()
        #expect(state.receive(epoch: 5, seq: 40, gapBefore: false) == .deliver(gap: 0, newLife: false))
        #expect(state.highest == 40)
        var flagged = ReceiveState()
        #expect(flagged.receive(epoch: 5, seq: 40, gapBefore: true) == .deliver(gap: 39, newLife: false))
    }

    @Test func olderEpochIsStaleNewerResets() {
        var state = ReceiveState(epoch: 10, highest: 100)
        #expect(state.receive(epoch: 9, seq: 101, gapBefore: false) == .stale)
        #expect(state.highest == 100)
        #expect(state.receive(epoch: 11, seq: 1, gapBefore: false) == .deliver(gap: 0, newLife: true))
        #expect(state.epoch == 11 && state.highest == 1)
        #expect(state.receive(epoch: 10, seq: 200, gapBefore: false) == .stale)
    }

    @Test func outOfOrderWithoutFlagIsDroppedWithFlagIsGap() {
        var state = ReceiveState(epoch: 1, highest: 5)
        #expect(state.receive(epoch: 1, seq: 8, gapBefore: false) == .outOfOrder)
        #expect(state.highest == 5)
        #expect(state.receive(epoch: 1, seq: 6, gapBefore: false) == .deliver(gap: 0, newLife: false))
        #expect(state.receive(epoch: 1, seq: 10, gapBefore: true) == .deliver(gap: 3, newLife: false))
        #expect(state.highest == 10)
        // After the gap, the skipped ones arriving late are duplicates (never delivered twice or out of order).
        #expect(state.receive(epoch: 1, seq: 8, gapBefore: false) == .duplicate)
    }

    @Test func observeEpochOnlyForKnownOrigins() {
        var fresh = ReceiveState()
        fresh.observeEpoch(7)
        #expect(fresh.epoch == 0)  // still "new messages only"
        var known = ReceiveState(epoch: 3, highest: 9)
        known.observeEpoch(7)
        #expect(known.epoch == 7 && known.highest == 0)
        #expect(known.receive(epoch: 3, seq: 10, gapBefore: false) == .stale)
        #expect(known.receive(epoch: 7, seq: 1, gapBefore: false) == .deliver(gap: 0, newLife: false))
        known.observeEpoch(5)
        #expect(known.epoch == 7 && known.highest == 1)
    }

    /// FILTERED_BEFORE: a jump over messages the sender passed over (none was for us) is contiguous, as long as the
    /// hole starts right after what we have.
    @Test func filteredJumpIsContiguousFromWhereTheHoleStarts() {
        var state = ReceiveState(epoch: 1, highest: 5)
        #expect(state.receive(epoch: 1, seq: 9, gapBefore: false, filteredFrom: 6) == .deliver(gap: 0, newLife: false))
        #expect(state.highest == 9)
        // A hole starting before what we have (the sender's view was older) still joins up.
        #expect(state.receive(epoch: 1, seq: 12, gapBefore: false, filteredFrom: 8) == .deliver(gap: 0, newLife: false))
        // One starting later: frames of that feed before it went astray. Out of order, nothing recorded.
        #expect(state.receive(epoch: 1, seq: 20, gapBefore: false, filteredFrom: 15) == .outOfOrder)
        #expect(state.highest == 12)
        // With GAP_BEFORE too, it is a loss like any other, counted from what we have.
        #expect(state.receive(epoch: 1, seq: 20, gapBefore: true, filteredFrom: 15) == .deliver(gap: 7, newLife: false))
        #expect(state.receive(epoch: 1, seq: 20, gapBefore: false, filteredFrom: 1) == .duplicate)
        // A new life whose first messages were all for others: no gap.
        #expect(state.receive(epoch: 2, seq: 4, gapBefore: false, filteredFrom: 1) == .deliver(gap: 0, newLife: true))
    }

    /// Two paths (direct + relay), each FIFO from a resume point, interleaved arbitrarily: every seq
    /// is delivered exactly once, in order.
    @Test func twoRacingFifoPathsDeliverExactlyOnce() {
        var rng = SplitMix(seed: 42)
        for _ in 0..<200 {
            var state = ReceiveState(epoch: 1, highest: 10)
            var pathA = Array(UInt64(8)...60)  // resumed from before highest
            var pathB = Array(UInt64(11)...60)
            var delivered = [UInt64]()
            while !pathA.isEmpty || !pathB.isEmpty {
                let useA = pathB.isEmpty || (!pathA.isEmpty && rng.next() & 1 == 0)
                let seq = useA ? pathA.removeFirst() : pathB.removeFirst()
                if case .deliver = state.receive(epoch: 1, seq: seq, gapBefore: false) { delivered.append(seq) }
            }
            #expect(delivered == Array(11...60))
        }
    }
}

/// Small deterministic generator for tests.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
