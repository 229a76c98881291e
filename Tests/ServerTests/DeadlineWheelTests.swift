import Testing

@testable import SignalRMesh

/// A second in nanoseconds.
private let s: UInt64 = 1_000_000_000

/// ``DeadlineWheel`` as a value: entries come out once, at the first `expire` whose `now` reaches their deadline.
@Suite struct DeadlineWheelTests {

    /// What one `expire(now:)` gives back, sorted.
    static func expire(_ w: inout DeadlineWheel<Int>, _ now: UInt64) -> [Int] {
        var due: [Int] = []
        w.expire(now: now, into: &due)
        return due.sorted()
    }

    @Test func dueEntriesComeOutOnceAtTheirDeadlineNotBefore() {
        var w = DeadlineWheel<Int>()
        _ = w.insert(1, deadline: 3 * s / 2)
        _ = w.insert(2, deadline: 2 * s)
        _ = w.insert(3, deadline: 2 * s + 1)
        #expect(Self.expire(&w, 3 * s / 2 - 1) == [])
        #expect(Self.expire(&w, 3 * s / 2) == [1])
        #expect(Self.expire(&w, 3 * s / 2) == [])
        #expect(Self.expire(&w, 2 * s - 1) == [])
        #expect(Self.expire(&w, 2 * s) == [2])
        #expect(Self.expire(&w, 2 * s) == [])
        #expect(w.count == 1)
        #expect(Self.expire(&w, 5 * s / 2) == [3])
        #expect(w.count == 0)
        #expect(Self.expire(&w, 100 * s) == [])
    }

    @Test func removedEntriesNeverComeOutAndTheirNodesAreReused() {
        var w = DeadlineWheel<Int>()
        let a = w.insert(1, deadline: 5 * s)
        let b = w.insert(2, deadline: 5 * s)
        let c = w.insert(3, deadline: 6 * s)
        #expect(w.remove(b) == 2)
        #expect(w.remove(.none) == nil)
        #expect(w.count == 2)
        let d = w.insert(4, deadline: 7 * s)
        #expect(d == b)  // the freed node
        #expect(w.remove(c) == 3)
        #expect(Self.expire(&w, 10 * s) == [1, 4])
        #expect(w.count == 0)
        _ = a
    }

    @Test func movedAndReinsertedEntriesComeOutAtTheirNewDeadline() {
        var w = DeadlineWheel<Int>()
        let a = w.insert(1, deadline: 2 * s)
        let b = w.insert(2, deadline: 9 * s)
        w.move(a, to: 4 * s)          // later
        w.move(b, to: 3 * s)          // earlier
        #expect(w.deadline(of: a) == 4 * s)
        #expect(Self.expire(&w, 2 * s) == [])
        #expect(Self.expire(&w, 3 * s) == [2])
        // Put back at once (what the heartbeat does with a ticked connection), further on.
        _ = w.insert(2, deadline: 3 * s + 15 * s)
        #expect(Self.expire(&w, 4 * s) == [1])
        #expect(Self.expire(&w, 18 * s - 1) == [])
        #expect(Self.expire(&w, 18 * s) == [2])
    }

    @Test func aDeadlineAlreadyPastComesOutAtTheNextExpire() {
        var w = DeadlineWheel<Int>()
        #expect(Self.expire(&w, 50 * s) == [])
        _ = w.insert(1, deadline: 0)
        _ = w.insert(2, deadline: 40 * s)
        _ = w.insert(3, deadline: 50 * s + 1)
        #expect(Self.expire(&w, 50 * s) == [1, 2])
        // Time going back (a test's clock) takes nothing early.
        #expect(Self.expire(&w, 10 * s) == [])
        #expect(Self.expire(&w, 51 * s) == [3])
    }

    @Test func deadlinesManyTurnsAheadWaitForTheirRound() {
        var w = DeadlineWheel<Int>(resolution: s, slotCount: 8)
        for (v, at) in [(1, 3), (2, 11), (3, 19), (4, 1000), (5, 1003)] { _ = w.insert(v, deadline: UInt64(at) * s) }
        _ = w.insert(6, deadline: .max)
        var seen: [UInt64: [Int]] = [:]
        for t in UInt64(0)...1100 {
            let out = Self.expire(&w, t * s)
            if !out.isEmpty { seen[t] = out }
        }
        #expect(seen == [3: [1], 11: [2], 19: [3], 1000: [4], 1003: [5]])
        #expect(w.count == 1)
    }

    @Test func timeJumpingSeveralSecondsOrManyTurnsTakesEverythingDue() {
        var w = DeadlineWheel<Int>(resolution: s, slotCount: 16)
        for v in 0..<100 { _ = w.insert(v, deadline: UInt64(v) * s + s / 2) }
        #expect(Self.expire(&w, 5 * s) == [0, 1, 2, 3, 4])
        #expect(Self.expire(&w, 9 * s) == [5, 6, 7, 8])  // four seconds at once
        #expect(Self.expire(&w, 50 * s) == Array(9..<50))  // more than a turn at once
        #expect(Self.expire(&w, 10_000 * s) == Array(50..<100))
        #expect(w.count == 0)
    }

    /// Many entries with pseudo-random deadlines, removals and moves, against a plain list: each comes out exactly
    /// once, at the first expire whose `now` reaches its deadline.
    @Test func largeCountsMatchAPlainList() {
        var w = DeadlineWheel<Int>(resolution: s, slotCount: 64)
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: UInt64) -> UInt64 {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (rng >> 33) % bound
        }
        let n = 100_000
        var deadline: [UInt64] = []
        var handles: [DeadlineWheel<Int>.Handle] = []
        for v in 0..<n {
            let d = next(200 * s)
            deadline.append(d)
            handles.append(w.insert(v, deadline: d))
        }
        var gone = Set<Int>()
        for v in stride(from: 0, to: n, by: 3) {
            #expect(w.remove(handles[v]) == v)
            gone.insert(v)
        }
        for v in stride(from: 1, to: n, by: 7) where !gone.contains(v) {
            deadline[v] = next(200 * s)
            w.move(handles[v], to: deadline[v])
        }
        var out = Set<Int>()
        // The live entries by deadline: after each expire, the first not out must not be due yet.
        let byDeadline = (0..<n).filter { !gone.contains($0) }.sorted { deadline[$0] < deadline[$1] }
        var first = 0
        var now: UInt64 = 0
        while now < 210 * s {
            now += s / 2 + next(2 * s)  // steps of 0.5 to 2.5 s
            var due: [Int] = []
            w.expire(now: now, into: &due)
            for v in due {
                #expect(deadline[v] <= now)
                #expect(!gone.contains(v) && !out.contains(v))
                out.insert(v)
            }
            // Nothing due is left behind.
            while first < byDeadline.count && out.contains(byDeadline[first]) { first += 1 }
            let late = first < byDeadline.count && deadline[byDeadline[first]] <= now
            #expect(!late)
            if late { break }
        }
        #expect(out.count == n - gone.count)
        #expect(w.count == 0)
    }
}
