import Testing

@testable import SignalRMesh

/// Caps on negotiations nobody connected to (issue 9, weakness 2: the cap was global, so one client could
/// fill it and every negotiate answered 503 for the whole negotiate timeout).
@Suite struct ConnectionManagerTests {
    @Test func oneSourceOverItsCapDropsOnlyItsOwnOldest() throws {
        let m = ConnectionManager(maxUnclaimed: 100, maxUnclaimedPerSource: 3)
        let other = m.negotiate(version: 1, source: "10.0.0.2", now: 0).record
        var flood: [ConnectionManager.Record] = []
        for i in 0..<3 {
            let (r, evicted) = m.negotiate(version: 1, source: "10.0.0.1", now: UInt64(1 + i))
            #expect(evicted == nil)
            flood.append(r)
        }
        let (fourth, evicted) = m.negotiate(version: 1, source: "10.0.0.1", now: 10)
        #expect(evicted == .sourceAtCap)
        #expect(m.lookup(token: flood[0].token) == nil, "the flooding source's oldest is gone")
        #expect(m.lookup(token: flood[1].token) != nil && m.lookup(token: fourth.token) != nil)
        #expect(m.lookup(token: other.token) != nil, "another source is untouched")
        #expect(m.unclaimedCount(source: "10.0.0.1") == 3 && m.unclaimedCount == 4)
        // Thousands more from the same source never touch the other one.
        for i in 0..<5_000 { _ = m.negotiate(version: 0, source: "10.0.0.1", now: UInt64(100 + i)) }
        #expect(m.lookup(token: other.token) != nil)
        #expect(m.unclaimedCount(source: "10.0.0.1") == 3 && m.unclaimedCount == 4)
    }

    @Test func claimedConnectionsDontCount() throws {
        let m = ConnectionManager(maxUnclaimed: 100, maxUnclaimedPerSource: 2)
        let a = m.negotiate(version: 1, source: "s", now: 0).record
        m.claim(a)
        #expect(a.claimed && m.unclaimedCount == 0 && m.sourceCount == 0)
        let b = m.negotiate(version: 1, source: "s", now: 1).record
        let c = m.negotiate(version: 1, source: "s", now: 2)
        #expect(c.evicted == nil)
        _ = m.negotiate(version: 1, source: "s", now: 3)
        #expect(m.lookup(token: a.token) != nil, "a claimed connection is never evicted")
        #expect(m.lookup(token: b.token) == nil)
        m.remove(token: a.token)
        #expect(m.lookup(token: a.token) == nil && m.unclaimedCount == 2)
    }

    @Test func theTableCapIsAMemoryBoundThatDropsTheOldest() {
        let m = ConnectionManager(maxUnclaimed: 5, maxUnclaimedPerSource: 5)
        var records: [ConnectionManager.Record] = []
        for i in 0..<5 { records.append(m.negotiate(version: 1, source: "10.0.0.\(i)", now: UInt64(i)).record) }
        let (newest, evicted) = m.negotiate(version: 1, source: "10.0.0.9", now: 9)
        #expect(evicted == .tableFull)
        #expect(m.lookup(token: records[0].token) == nil)
        #expect(records.dropFirst().allSatisfy { m.lookup(token: $0.token) != nil })
        #expect(m.lookup(token: newest.token) != nil)
        #expect(m.unclaimedCount == 5 && m.sourceCount == 5)
    }

    @Test func sweepDropsExpiredOldestFirst() {
        let m = ConnectionManager()
        var records: [ConnectionManager.Record] = []
        for i in 0..<10 { records.append(m.negotiate(version: 1, source: i % 2 == 0 ? "a" : "b", now: UInt64(i) * 100).record) }
        m.claim(records[1])
        m.sweep(now: 1_000, timeoutNanos: 550)  // expires negotiatedAt <= 450: 0, 2, 3, 4 (1 is claimed)
        #expect(m.lookup(token: records[0].token) == nil && m.lookup(token: records[4].token) == nil)
        #expect(m.lookup(token: records[1].token) != nil, "claimed: kept until its connection ends")
        #expect(m.lookup(token: records[5].token) != nil)
        #expect(m.unclaimedCount == 5 && m.unclaimedCount(source: "a") == 2 && m.unclaimedCount(source: "b") == 3)
        m.sweep(now: 10_000, timeoutNanos: 550)
        #expect(m.unclaimedCount == 0 && m.sourceCount == 0 && m.byToken.count == 1)
    }

    @Test func versionZeroTokenIsTheConnectionId() {
        let m = ConnectionManager()
        let v0 = m.negotiate(version: 0, source: "s", now: 0).record
        let v1 = m.negotiate(version: 1, source: "s", now: 0).record
        #expect(v0.token == v0.connectionId && v1.token != v1.connectionId)
        #expect(v0.connectionId.utf8.count == 22)
    }

    /// Random operations against a plain model: the same records survive, the counts agree.
    @Test func agreesWithASimpleModel() {
        var rng = SplitMix(seed: 9)
        let m = ConnectionManager(maxUnclaimed: 40, maxUnclaimedPerSource: 7)
        var model: [(token: String, source: String, at: UInt64, claimed: Bool)] = []
        var now: UInt64 = 0
        for _ in 0..<20_000 {
            now += rng.next() % 3
            switch rng.next() % 10 {
            case 0..<6:
                let source = "s\(rng.next() % 9)"
                let unclaimed = model.filter { !$0.claimed }
                if unclaimed.filter({ $0.source == source }).count >= 7 {
                    let i = model.firstIndex { !$0.claimed && $0.source == source }!
                    model.remove(at: i)
                } else if unclaimed.count >= 40 {
                    model.remove(at: model.firstIndex { !$0.claimed }!)
                }
                let r = m.negotiate(version: 1, source: source, now: now).record
                model.append((r.token, source, now, false))
            case 6, 7:
                guard !model.isEmpty else { continue }
                let i = Int(rng.next() % UInt64(model.count))
                if let r = m.lookup(token: model[i].token) { m.claim(r) }
                model[i].claimed = true
            case 8:
                guard !model.isEmpty else { continue }
                let i = Int(rng.next() % UInt64(model.count))
                m.remove(token: model[i].token)
                model.remove(at: i)
            default:
                m.sweep(now: now, timeoutNanos: 30)
                model.removeAll { !$0.claimed && now - $0.at >= 30 }
            }
            #expect(m.byToken.count == model.count)
            #expect(m.unclaimedCount == model.filter { !$0.claimed }.count)
        }
        #expect(Set(m.byToken.keys) == Set(model.map(\.token)))
    }

    @Test func aLongTableIsReleasedWithoutRecursion() {
        var m: ConnectionManager? = ConnectionManager(maxUnclaimed: 300_000, maxUnclaimedPerSource: 300_000)
        for i in 0..<300_000 { _ = m!.negotiate(version: 0, source: "s", now: UInt64(i)) }
        m = nil  // would overflow the stack if the chain were released recursively
        #expect(m == nil)
    }

    @Test func sourceKeys() {
        #expect(LoopbackAddress.sourceKey("127.0.0.1") == "127.0.0.1")
        #expect(LoopbackAddress.sourceKey("::ffff:10.1.2.3") == "10.1.2.3")
        #expect(LoopbackAddress.sourceKey("2001:db8:aa:bb:1:2:3:4") == "2001:db8:aa:bb::/64")
        #expect(LoopbackAddress.sourceKey("2001:db8:aa:bb::99") == "2001:db8:aa:bb::/64")
        #expect(LoopbackAddress.sourceKey("::1") == "0:0:0:0::/64")
    }
}

/// A small deterministic generator for the model test.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
