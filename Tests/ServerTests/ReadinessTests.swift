import Testing

@testable import SignalRMesh

/// `/readyz`: starting → syncing → ready (first mesh sync, or its bound) → draining; a clock the tests move.
@Suite struct ReadinessTests {
    static let second: UInt64 = 1_000_000_000

    @Test func notReadyUntilListening() {
        var r = Readiness(syncTimeoutNanos: 10 * Self.second)
        #expect(!r.isReady)
        #expect(r.update(now: 100 * Self.second, peers: []) == nil)  // not listening: the bound doesn't run
        #expect(r.text(now: 0) == "starting: not listening yet")
    }

    @Test func aReplicaAloneIsReadyAtOnce() {
        var r = Readiness(syncTimeoutNanos: 10 * Self.second)
        r.listening(now: 5)
        #expect(r.update(now: 5, peers: []) == .settled)
        #expect(r.isReady)
        #expect(r.text(now: 6) == "ready")
    }

    @Test func readyOnceEveryPeerSyncedOrFailed() {
        var r = Readiness(syncTimeoutNanos: 10 * Self.second)
        r.listening(now: 0)
        #expect(r.update(now: Self.second / 10, peers: [("b", .pending), ("c", .failed)]) == nil)
        #expect(!r.isReady)
        #expect(r.text(now: Self.second / 2) == "starting: first mesh sync, waiting for b (0.5 s of at most 10.0 s)")
        #expect(r.update(now: Self.second, peers: [("b", .synced), ("c", .failed)]) == .settled)
        #expect(r.isReady)
    }

    @Test func readyAfterTheBoundWhateverThePeersDo() {
        var r = Readiness(syncTimeoutNanos: 10 * Self.second)
        r.listening(now: 1_000)
        let stuck: [(id: String, progress: Readiness.PeerProgress)] = [("b", .pending), ("c", .pending), ("d", .synced)]
        #expect(r.update(now: 1_000 + 10 * Self.second - 1, peers: stuck) == nil)
        #expect(r.update(now: 1_000 + 10 * Self.second, peers: stuck) == .timedOut(pending: ["b", "c"]))
        #expect(r.isReady)
    }

    @Test func readyIsALatch() {
        var r = Readiness(syncTimeoutNanos: Self.second)
        r.listening(now: 0)
        r.update(now: 0, peers: [("b", .synced)])
        // b goes away later: still ready (the replica serves its own clients).
        #expect(r.update(now: 5 * Self.second, peers: [("b", .pending)]) == nil)
        #expect(r.isReady)
    }

    @Test func drainingIsForGood() {
        var r = Readiness(syncTimeoutNanos: Self.second)
        r.listening(now: 0)
        r.update(now: 0, peers: [])
        r.drain()
        #expect(!r.isReady && r.isDraining)
        #expect(r.text(now: 0) == "draining: shutting down")
        #expect(r.update(now: 0, peers: []) == nil)
        r.listening(now: 0)
        #expect(r.isDraining)
        // Draining before the first sync finished: the same.
        var early = Readiness(syncTimeoutNanos: Self.second)
        early.listening(now: 0)
        early.drain()
        #expect(early.update(now: 10 * Self.second, peers: []) == nil)
        #expect(!early.isReady)
    }

    @Test func aClockThatStepsBackDoesNotEndTheWait() {
        var r = Readiness(syncTimeoutNanos: Self.second)
        r.listening(now: 10 * Self.second)
        #expect(r.update(now: 0, peers: [("b", .pending)]) == nil)
        #expect(r.text(now: 0).contains("(0.0 s of at most 1.0 s)"))
    }

    @Test func drainDelayFlag() throws {
        func parse(_ args: [String]) throws -> ServerOptions {
            guard case .run(let c) = try ServerCommandLine.parse(["--node", "a"] + args) else { throw UsageError("help") }
            return c.options
        }
        #expect(try parse([]).drainDelay == 2)
        #expect(try parse(["--drain-delay", "0"]).drainDelay == 0)
        #expect(try parse(["--drain-delay=7.5"]).drainDelay == 7.5)
        for bad in ["-1", "nan", "inf", "3601", "soon", ""] {
            #expect(throws: UsageError.self, "\(bad)") { try parse(["--drain-delay", bad]) }
        }
        #expect(ServerCommandLine.usage.contains("--drain-delay SECONDS"))
    }
}
