import Foundation
import NetKit
import Testing

@testable import Mesh

/// Relays that joined an origin's life midway, and relays that hold an absent origin's messages (the chaos test's
/// findings): several real MeshNodes in this process. Serialized: failure detection is timed.
@Suite(.serialized) struct RelayCoverageTests {
    /// Cuts (or restores) every link between `id` and `others`, at both ends (a stopped or partitioned replica).
    private func isolate(_ mesh: TestMesh, _ id: String, from others: [String], _ blocked: Bool) throws {
        for other in others {
            try mesh.with(id) { $0.testBlockPeer(other, blocked) }
            try mesh.with(other) { $0.testBlockPeer(id, blocked) }
        }
    }

    /// Sets the stage of the bug: b "stopped" (cut from everyone) misses batch 1 of c; a restarts (its log of c
    /// starts after batch 1) and gets batch 2; then b comes back linked to a only, so c can reach b only
    /// through a. c's seqs: 1…3 warm-up, 4…13 batch 1, 14…23 batch 2.
    private func stageRestartedRelayer(_ mesh: TestMesh, restartOptions: MeshOptions) throws {
        try mesh.waitSettled()
        try mesh.publish(from: "c", 0..<3, tag: "warm")
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 3 })

        try isolate(mesh, "b", from: ["a", "c"], true)
        #expect(try waitUntil { try mesh.snapshot("c").peer("b")?.state == .down && mesh.snapshot("a").peer("b")?.state == .down })
        try mesh.publish(from: "c", 0..<10, tag: "batch1")
        #expect(waitUntil { mesh.delivered("a").count(from: "c") == 13 })

        // a restarts: a new life, whose first RESUME asks c for new messages only.
        var options = restartOptions
        options.epoch = try mesh.snapshot("a").epoch + 1_000
        try mesh.stopNode(mesh.index("a"))
        try mesh.startNode(mesh.index("a"), options: options)
        try mesh.with("a") { $0.testBlockPeer("b", true) }
        // Its RESUME must have reached c before batch 2, or ("new messages only") it would start after batch 2.
        #expect(try waitUntil { try mesh.snapshot("c").peer("a")?.feeding == ["c"] })
        try mesh.publish(from: "c", 0..<10, tag: "batch2")
        #expect(waitUntil { mesh.delivered("a").count(from: "c") == 10 })
        #expect(try mesh.snapshot("a").origin("c")?.logCount == 10)

        // b is back, linked to a only.
        try isolate(mesh, "b", from: ["a"], false)
        #expect(try waitUntil {
            try mesh.snapshot("b").peer("a")?.reportedLinks.contains { $0.peerId == "c" && $0.up } == true
        })
    }

    @Test func restartedRelayerDoesNotMakeAStoppedNodeSkip() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try stageRestartedRelayer(mesh, restartOptions: MeshOptions())

        // a holds c's messages from seq 14 only and says so; b (at seq 3) must not take a's jump as a gap: it
        // waits for c, which still holds batch 1.
        #expect(try mesh.snapshot("b").peer("a")?.reportedLinks.first { $0.peerId == "c" }?.heldFrom == 14)
        #expect(try waitUntil { try mesh.snapshot("b").peer("a")?.requested == ["a"] })
        #expect(try mesh.snapshot("b").origin("c")?.gaps == 0)
        #expect(mesh.delivered("b").count(from: "c") == 3)

        try isolate(mesh, "b", from: ["c"], false)
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 23 }, "b has \(mesh.delivered("b").count(from: "c")) of c's 23")
        try mesh.publish(from: "c", 0..<5, tag: "batch3")
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 28 })
        #expect(
            mesh.delivered("b").messages(from: "c")
                == expectedMessages("warm", 0..<3) + expectedMessages("batch1", 0..<10) + expectedMessages("batch2", 0..<10)
                + expectedMessages("batch3", 0..<5))
        let b = try mesh.snapshot("b")
        #expect(b.origin("c")?.gaps == 0)
        #expect(b.peers.allSatisfy { $0.gaps == 0 && $0.duplicatesDropped == 0 })
    }

    @Test func aRelayerTakenAsLastResortSkipsOnlyAfterTheWait() throws {
        var options = MeshOptions()
        options.relayCoverWaitNanos = 400_000_000
        let mesh = try TestMesh(ids: ["a", "b", "c"], options: options)
        defer { mesh.shutdownAll() }
        try stageRestartedRelayer(mesh, restartOptions: options)

        // c stays out of b's reach: after the wait b takes batch 2 from a and counts batch 1 as lost.
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 13 }, "b has \(mesh.delivered("b").count(from: "c"))")
        #expect(mesh.delivered("b").messages(from: "c") == expectedMessages("warm", 0..<3) + expectedMessages("batch2", 0..<10))
        #expect(try mesh.snapshot("b").origin("c")?.gaps == 10)
        // a flagged the skip as NOT_HELD (it never held batch 1), not as an eviction of its own.
        #expect(try mesh.snapshot("a").peer("b")?.sendGaps == 0)

        try isolate(mesh, "b", from: ["c"], false)
        try mesh.publish(from: "c", 0..<5, tag: "batch3")
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 18 })
        #expect(mesh.delivered("b").messages(from: "c").suffix(5) == ArraySlice(expectedMessages("batch3", 0..<5)))
        #expect(try mesh.snapshot("b").peers.allSatisfy { $0.duplicatesDropped == 0 })
    }

    /// The same with the default wait (30 s) on a clock the test moves: nothing is skipped until the clock says
    /// 30 s have passed, and then at once, without the test waiting 30 s.
    @Test func theLastResortWaitsThirtySecondsOfClockTime() throws {
        let clock = TestClock(followingRealTime: true)
        var options = MeshOptions()
        options.clock = clock.function
        // Links go down by their sockets here; silence must not take them down when the clock jumps.
        options.failureTimeoutNanos = 3_600_000_000_000
        #expect(options.relayCoverWaitNanos == 30_000_000_000)
        let mesh = try TestMesh(ids: ["a", "b", "c"], options: options)
        defer { mesh.shutdownAll() }
        try stageRestartedRelayer(mesh, restartOptions: options)

        // b waits for c (which still holds batch 1): a relays nothing of c to it.
        #expect(try waitUntil { try mesh.snapshot("b").peer("a")?.requested == ["a"] })
        clock.advance(seconds: 20)
        try mesh.with("b") { $0.updateRoutes() }
        #expect(try mesh.snapshot("b").peer("a")?.requested == ["a"])
        #expect(mesh.delivered("b").count(from: "c") == 3)

        clock.advance(seconds: 11)
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 13 }, "b has \(mesh.delivered("b").count(from: "c"))")
        #expect(mesh.delivered("b").messages(from: "c") == expectedMessages("warm", 0..<3) + expectedMessages("batch2", 0..<10))
        #expect(try mesh.snapshot("b").origin("c")?.gaps == 10)
    }

    /// An origin's messages come through a replica that holds them even when that replica has no link to the
    /// origin any more (it went away after sending them).
    @Test func heldMessagesAreRelayedWhileTheirOriginIsAway() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        try mesh.publish(from: "c", 0..<3, tag: "warm")
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 3 })

        try isolate(mesh, "b", from: ["a", "c"], true)
        #expect(try waitUntil { try mesh.snapshot("c").peer("b")?.state == .down })
        try mesh.publish(from: "c", 0..<10, tag: "batch")
        #expect(waitUntil { mesh.delivered("a").count(from: "c") == 13 })
        // c goes away too; then b comes back, to a only.
        try isolate(mesh, "c", from: ["a"], true)
        #expect(try waitUntil { try mesh.snapshot("a").peer("c")?.state == .down })
        try isolate(mesh, "b", from: ["a"], false)

        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 13 }, "b has \(mesh.delivered("b").count(from: "c"))")
        #expect(mesh.delivered("b").messages(from: "c") == expectedMessages("warm", 0..<3) + expectedMessages("batch", 0..<10))
        #expect(try mesh.snapshot("b").origin("c")?.gaps == 0)

        // c returns: direct again, nothing doubled.
        try isolate(mesh, "c", from: ["a", "b"], false)
        try mesh.waitSettled()
        try mesh.publish(from: "c", 0..<5, tag: "after")
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 18 })
        #expect(mesh.delivered("b").messages(from: "c").suffix(5) == ArraySlice(expectedMessages("after", 0..<5)))
        #expect(try mesh.snapshot("b").peers.allSatisfy { $0.duplicatesDropped == 0 && $0.gaps == 0 })
    }
}
