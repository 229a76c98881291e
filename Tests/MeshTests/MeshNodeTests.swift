import Foundation
import NetKit
import Testing

@testable import Mesh

/// Several real MeshNodes in this process over loopback TCP. Serialized: failure detection is timed.
@Suite(.serialized) struct MeshNodeTests {
    @Test func fullMeshDeliversExactlyOnce() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()

        for id in mesh.ids { try mesh.publish(from: id, 0..<300, chunk: 50) }
        for id in mesh.ids {
            #expect(waitUntil { mesh.delivered(id).count == 600 }, "node \(id) delivered \(mesh.delivered(id).count)")
            for origin in mesh.ids where origin != id {
                #expect(mesh.delivered(id).messages(from: origin) == expectedMessages(origin, 0..<300))
            }
            #expect(mesh.delivered(id).count(from: id) == 0)
        }
        // Healthy mesh: each broadcast is exactly N-1 DATA frames, nothing relayed or duplicated.
        for id in mesh.ids {
            let snap = try mesh.snapshot(id)
            #expect(snap.published == 300 && snap.delivered == 600)
            for peer in snap.peers {
                #expect(peer.dataSent == 300, "\(id)→\(peer.id) sent \(peer.dataSent)")
                #expect(peer.dataReceived == 300)
                #expect(peer.relayed == 0 && peer.duplicatesDropped == 0 && peer.gaps == 0)
            }
        }
        // Heartbeats flow and are answered: every link has a round-trip time.
        #expect(try waitUntil { try mesh.ids.allSatisfy { try mesh.snapshot($0).peers.allSatisfy { $0.rttMicros != nil } } })
        // Exactly one link per pair: both ends agree on who dialed it.
        for (x, y) in [("a", "b"), ("a", "c"), ("b", "c")] {
            let xy = try mesh.snapshot(x).peer(y)?.dialedByUs
            let yx = try mesh.snapshot(y).peer(x)?.dialedByUs
            #expect(xy != nil && yx != nil && xy != yx, "\(x)-\(y): \(String(describing: xy)) / \(String(describing: yx))")
        }
        // ACKs come back within a few ms: nothing left to replay.
        #expect(try waitUntil { try mesh.snapshot("a").peers.allSatisfy { $0.replayBufferedMessages == 0 } })
    }

    @Test func cutLinkWhilePublishingLosesAndDoublesNothing() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()

        let total = 3000
        var next = 0
        var cuts = 0
        while next < total {
            try mesh.publish(from: "a", next..<(next + 100), chunk: 25)
            try mesh.publish(from: "b", next..<(next + 100), chunk: 25)
            next += 100
            if next % 600 == 0 {
                try mesh.with("a") { $0.testCutLink(to: "b") }
                cuts += 1
            }
            if next == 1500 { try mesh.with("c") { $0.testCutLink(to: "b") } }
            usleep(2000)
        }
        #expect(cuts == 5)
        #expect(waitUntil(timeout: 15) {
            mesh.delivered("b").count(from: "a") >= total && mesh.delivered("a").count(from: "b") >= total
                && mesh.delivered("c").count == 2 * total
        })
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 0..<total))
        #expect(mesh.delivered("a").messages(from: "b") == expectedMessages("b", 0..<total))
        #expect(mesh.delivered("c").messages(from: "a") == expectedMessages("a", 0..<total))
        #expect(mesh.delivered("c").messages(from: "b") == expectedMessages("b", 0..<total))
        try mesh.waitSettled()
        let a = try mesh.snapshot("a")
        #expect(a.peer("b")?.gaps == 0 && a.peer("b")?.sendGaps == 0)
    }

    @Test func relayThroughThirdNodeThenDirectAgain() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()

        // Cut A–C and keep it cut (both ends refuse).
        try mesh.with("a") { $0.testBlockPeer("c", true) }
        try mesh.with("c") { $0.testBlockPeer("a", true) }
        #expect(try waitUntil {
            let c = try mesh.snapshot("c")
            return c.peer("a")?.state == .down && c.peer("b")?.requested == ["a", "b"]
        })
        #expect(try waitUntil { try mesh.snapshot("b").peer("c")?.feeding == ["a", "b"] })

        try mesh.publish(from: "a", 0..<200)
        #expect(waitUntil { mesh.delivered("c").count(from: "a") == 200 })
        #expect(mesh.delivered("c").messages(from: "a") == expectedMessages("a", 0..<200))
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 200 })
        let relayedWhileCut = try mesh.snapshot("b").peer("c")!.relayed
        #expect(relayedWhileCut == 200)
        #expect(try mesh.snapshot("a").peer("c")!.dataSent == 0)

        // Heal: C goes back to A directly and stops asking B for A.
        try mesh.with("a") { $0.testBlockPeer("c", false) }
        try mesh.with("c") { $0.testBlockPeer("a", false) }
        try mesh.waitSettled()
        try mesh.publish(from: "a", 200..<400)
        #expect(waitUntil { mesh.delivered("c").count(from: "a") == 400 })
        #expect(mesh.delivered("c").messages(from: "a") == expectedMessages("a", 0..<400))
        #expect(try mesh.snapshot("b").peer("c")!.relayed == relayedWhileCut)
        #expect(try mesh.snapshot("a").peer("c")!.dataSent == 200)
        #expect(try mesh.snapshot("c").peer("a")!.gaps == 0)
    }

    @Test func restartedNodeGetsOnlyNewMessagesAndOthersAcceptItsNewLife() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()

        try mesh.publish(from: "b", 0..<50)
        #expect(waitUntil { mesh.delivered("a").count(from: "b") == 50 && mesh.delivered("c").count(from: "b") == 50 })
        let oldEpoch = try mesh.snapshot("b").epoch

        try mesh.stopNode(mesh.index("b"))
        #expect(try waitUntil { try mesh.snapshot("a").peer("b")?.state == .down && mesh.snapshot("c").peer("b")?.state == .down })
        try mesh.publish(from: "a", 0..<30)  // while b is away: b's next life must not get these
        #expect(waitUntil { mesh.delivered("c").count(from: "a") == 30 })

        var options = MeshOptions()
        options.epoch = oldEpoch + 1_000
        try mesh.startNode(mesh.index("b"), options: options)
        try mesh.waitSettled()
        #expect(try mesh.snapshot("a").peer("b")?.epoch == oldEpoch + 1_000)

        // Its seqs restart at 1 in the new epoch: accepted, not dropped as duplicates.
        try mesh.publish(from: "b", 0..<20, tag: "b2")
        #expect(waitUntil { mesh.delivered("a").count(from: "b") == 70 && mesh.delivered("c").count(from: "b") == 70 })
        #expect(mesh.delivered("a").messages(from: "b") == expectedMessages("b", 0..<50) + expectedMessages("b2", 0..<20))
        #expect(mesh.delivered("c").messages(from: "b") == expectedMessages("b", 0..<50) + expectedMessages("b2", 0..<20))

        try mesh.publish(from: "a", 30..<40)
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 10 })
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 30..<40))
        #expect(try mesh.snapshot("a").origin("b")?.epoch == oldEpoch + 1_000)
        #expect(try mesh.snapshot("a").peer("b")?.duplicatesDropped == 0)
    }

    @Test func evictedMessagesAreReportedAsGaps() throws {
        var options = MeshOptions()
        options.logMaxCount = 10
        let mesh = try TestMesh(ids: ["a", "b"], options: options)
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()

        try mesh.publish(from: "a", 0..<5)
        #expect(waitUntil { mesh.delivered("b").count == 5 })
        try mesh.with("a") { $0.testBlockPeer("b", true) }
        try mesh.with("b") { $0.testBlockPeer("a", true) }
        #expect(try waitUntil { try mesh.snapshot("b").peer("a")?.state == .down })
        try mesh.publish(from: "a", 5..<55)  // seqs 6…55; the log keeps only 46…55
        try mesh.with("a") { $0.testBlockPeer("b", false) }
        try mesh.with("b") { $0.testBlockPeer("a", false) }

        #expect(try waitUntil { try mesh.snapshot("b").origin("a")?.highestDelivered == 55 })
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 0..<5) + expectedMessages("a", 45..<55))
        let b = try mesh.snapshot("b")
        #expect(b.origin("a")?.gaps == 40)
        #expect(b.peer("a")?.gaps == 40)
        #expect(try mesh.snapshot("a").peer("b")?.sendGaps == 40)
        #expect(try mesh.snapshot("a").ownLogCount == 10)
    }

    @Test func silentPeerIsDeclaredDownWithinTwoSeconds() throws {
        // "a" is a hand-driven peer (lower id, so its dial always wins the tie-break); "b" is a real node.
        let mesh = try TestMesh(ids: ["a", "b"], start: false)
        defer { mesh.shutdownAll() }
        try mesh.startNode(mesh.index("b"))
        let raw = try RawPeer(port: mesh.listeners[mesh.index("b")].port)
        #expect(try raw.handshake(as: "a", epoch: 42, config: mesh.config, expecting: "b"))
        let established = Date()
        #expect(try mesh.snapshot("b").peer("a")?.state == .up)

        // Phase 1: only heartbeats, never reading. Any frame counts as life: stays up.
        var lastSent = established
        while Date().timeIntervalSince(established) < 2.0 {
            raw.send(.heartbeat(nanos: 1))
            lastSent = Date()
            usleep(300_000)
            #expect(try mesh.snapshot("b").peer("a")?.state == .up)
        }
        // Phase 2: silence. Down 1.2 s after the last frame, within 2 s, not before.
        let silentSince = lastSent
        var downAfter: Double?
        while Date().timeIntervalSince(silentSince) < 3 {
            if try mesh.snapshot("b").peer("a")?.state == .down {
                downAfter = Date().timeIntervalSince(silentSince)
                break
            }
            usleep(5000)
        }
        let elapsed = try #require(downAfter)
        #expect(elapsed >= 1.1, "declared down after only \(elapsed) s")
        #expect(elapsed <= 2.0, "declared down after \(elapsed) s")
    }

    /// The same on a clock the test moves: alive at exactly the failure timeout (1.2 s) of silence, down one
    /// nanosecond later. No real time passes on the node's clock.
    @Test func silentPeerIsDeclaredDownAtTheFailureTimeoutOfClockTime() throws {
        let clock = TestClock(followingRealTime: false)
        var options = MeshOptions()
        options.clock = clock.function
        let mesh = try TestMesh(ids: ["a", "b"], options: options, start: false)
        defer { mesh.shutdownAll() }
        try mesh.startNode(mesh.index("b"))
        let raw = try RawPeer(port: mesh.listeners[mesh.index("b")].port)
        #expect(try raw.handshake(as: "a", epoch: 42, config: mesh.config, expecting: "b"))
        #expect(try mesh.snapshot("b").peer("a")?.state == .up)

        clock.advance(seconds: 1.2)
        try mesh.with("b") { $0.tick() }
        #expect(try mesh.snapshot("b").peer("a")?.state == .up)
        clock.advance(nanos: 1)
        try mesh.with("b") { $0.tick() }
        #expect(try mesh.snapshot("b").peer("a")?.state == .down)
    }

    @Test func batchesManyDataFramesPerWrite() throws {
        let mesh = try TestMesh(ids: ["a", "b"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()

        let count = 100_000
        let payload = [UInt8](repeating: 0x42, count: 32)
        let started = Date()
        var sent = 0
        while sent < count {
            let n = min(5000, count - sent)
            try mesh.with("a") { node in for _ in 0..<n { node.publish(payload) } }
            sent += n
        }
        #expect(waitUntil(timeout: 30) { mesh.delivered("b").count == count })
        let seconds = Date().timeIntervalSince(started)
        let peer = try #require(try mesh.snapshot("a").peer("b"))
        #expect(peer.dataSent == UInt64(count))
        let perWrite = Double(peer.dataSent) / Double(max(peer.dataWrites, 1))
        #expect(perWrite >= 20, "only \(perWrite) DATA frames per write")
        #expect(peer.state == .up)
        print("mesh link: \(count) msgs in \(String(format: "%.2f", seconds)) s, \(Int(perWrite)) frames/write")
    }

    @Test func leaveMarksPeerLeft() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        let left = Shared(false)
        try mesh.with("a") { node in node.leave { left.update { $0 = true } } }
        #expect(waitUntil(timeout: 2) { left.value })
        #expect(try waitUntil { try mesh.snapshot("b").peer("a")?.state == .left && mesh.snapshot("c").peer("a")?.state == .left })
    }

    /// The snapshot follows the links: once a node stopped, none of its peers shows up (it used to keep showing the
    /// peers that were up at the moment of `shutdown()`).
    @Test func shutdownShowsPeersDown() throws {
        let mesh = try TestMesh(ids: ["a", "b"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        let snap = try mesh.with("a") { node in
            node.shutdown()
            return node.snapshot()
        }
        #expect(snap.peer("b")?.state == .down)
        #expect(snap.peer("b")?.dialedByUs == nil && snap.peer("b")?.reachable == false)
    }

    @Test func wrongSecretNeverLinks() throws {
        let sink = CapturingSink()
        var options = MeshOptions()
        options.logSink = sink
        let mesh = try TestMesh(ids: ["a", "b"], options: options, start: false)
        defer { mesh.shutdownAll() }
        try mesh.startNode(mesh.index("a"))
        var other = mesh.config
        other.secret = "a-different-secret-value"
        try mesh.startNode(mesh.index("b"), config: other)
        // Both dial each other repeatedly for a while; neither ever comes up.
        let start = Date()
        while Date().timeIntervalSince(start) < 0.6 {
            #expect(try mesh.snapshot("a").peer("b")?.state == .connecting)
            #expect(try mesh.snapshot("b").peer("a")?.state == .connecting)
            usleep(50_000)
        }
        // Each side says why: the acceptor found the confirmation wrong, the dialer was refused.
        let lines = sink.lines
        #expect(lines.contains {
            $0.contains(#"msg="handshake failed""#) && $0.contains(#"reason="peer's key confirmation does not verify (wrong secret?)""#)
        })
        #expect(lines.contains { $0.contains(#"msg="dial failed""#) && $0.contains(#"reason="rejected by peer: \"authentication failed\"""#) })
    }
}
