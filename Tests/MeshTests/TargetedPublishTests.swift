import Foundation
import NetKit
import Testing

@testable import Mesh

/// Publishes `"<tag>:<n>"` for n in `range` from `id` to `destinations` (nil: everyone), one loop task.
private func publish(_ mesh: TestMesh, from id: String, _ range: Range<Int>, to destinations: [String]?, tag: String) throws {
    try mesh.with(id) { node in
        for n in range { #expect(node.publish(Array("\(tag):\(n)".utf8), to: destinations)) }
    }
}

/// Cuts (or restores) the link between `x` and `y` at both ends.
private func block(_ mesh: TestMesh, _ x: String, _ y: String, _ blocked: Bool) throws {
    try mesh.with(x) { $0.testBlockPeer(y, blocked) }
    try mesh.with(y) { $0.testBlockPeer(x, blocked) }
}

/// Targeted publish (`publish(_:to:)`): several real MeshNodes in this process. Serialized: failure detection is timed.
@Suite(.serialized) struct TargetedPublishTests {
    /// Fully linked: a message reaches its destinations only, and no other replica gets a frame for it; targeted and
    /// broadcast messages of one origin keep their order at every node.
    @Test func targetedMessagesReachOnlyTheirDestinations() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()

        // Self and unknown ids are ignored; nothing left: nothing published.
        try mesh.with("a") { node in
            #expect(!node.publish([1], to: []))
            #expect(!node.publish([1], to: ["a"]))
            #expect(!node.publish([1], to: ["a", "nobody"]))
        }
        #expect(try mesh.snapshot("a").published == 0)

        try publish(mesh, from: "a", 0..<100, to: ["b"], tag: "a>b")
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 100 })
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a>b", 0..<100))
        // c got no frame at all for them, a sent it none.
        #expect(try mesh.snapshot("c").peer("a")?.dataReceived == 0)
        #expect(try mesh.snapshot("a").peer("c")?.dataSent == 0)
        #expect(try mesh.snapshot("a").peer("c")?.filteredSkipped == 100)

        // Interleaved, from every node: to one peer, to both (the same as everyone), to everyone.
        for round in 0..<30 {
            for (id, others) in [("a", ["b", "c"]), ("b", ["a", "c"]), ("c", ["a", "b"])] {
                try publish(mesh, from: id, round..<(round + 1), to: [others[0]], tag: "\(id)>\(others[0])")
                try publish(mesh, from: id, round..<(round + 1), to: [others[1], id], tag: "\(id)>\(others[1])")
                try publish(mesh, from: id, round..<(round + 1), to: others, tag: "\(id)>both")
                try publish(mesh, from: id, round..<(round + 1), to: nil, tag: "\(id)>all")
            }
        }
        func expected(from origin: String, at id: String) -> [String] {
            var list = [String]()
            for round in 0..<30 {
                list.append("\(origin)>\(id):\(round)")
                list.append("\(origin)>both:\(round)")
                list.append("\(origin)>all:\(round)")
            }
            return list
        }
        for id in mesh.ids {
            for origin in mesh.ids where origin != id {
                let earlier = origin == "a" && id == "b" ? expectedMessages("a>b", 0..<100) : []
                let want = earlier + expected(from: origin, at: id)
                #expect(
                    waitUntil { mesh.delivered(id).count(from: origin) == want.count },
                    "\(id) has \(mesh.delivered(id).count(from: origin)) of \(origin)'s \(want.count)")
                #expect(mesh.delivered(id).messages(from: origin) == want, "\(id) from \(origin)")
            }
        }
        // Frames: each peer got exactly the messages for it (90 per origin, plus the first 100 for b).
        for id in mesh.ids {
            let snap = try mesh.snapshot(id)
            #expect(snap.storedForRelay == 0)
            for peer in snap.peers {
                let extra: UInt64 = id == "a" && peer.id == "b" ? 100 : 0
                #expect(peer.dataSent == 90 + extra, "\(id)→\(peer.id) sent \(peer.dataSent)")
                #expect(peer.relayed == 0 && peer.duplicatesDropped == 0 && peer.gaps == 0 && peer.outOfOrderDropped == 0)
                #expect(peer.reachable)
            }
        }
        #expect(try mesh.snapshot("a").peer("c")?.filteredSkipped == 130)
        #expect(try mesh.snapshot("a").peer("b")?.filteredSkipped == 30)
        // Acknowledged, including what was passed over: nothing to replay.
        #expect(try waitUntil { try mesh.ids.allSatisfy { try mesh.snapshot($0).peers.allSatisfy { $0.replayBufferedMessages == 0 } } })
    }

    /// a–b cut for good while a publishes to b: its messages go through c, which holds them without delivering
    /// them; b gets each once, in order. c knew nothing of a's messages before the cut (all were for b), and must
    /// still be taken as b's relayer at once, not after the cover wait (30 s).
    @Test func cutLinkToTheDestinationRelaysThroughAThirdReplica() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        try publish(mesh, from: "a", 0..<50, to: ["b"], tag: "before")
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 50 })
        // Acknowledged: a won't send these to c for b (it would if they might still be in flight).
        #expect(try waitUntil { try mesh.snapshot("a").peer("b")?.replayBufferedMessages == 0 })

        try block(mesh, "a", "b", true)
        #expect(try waitUntil { try mesh.snapshot("b").peer("c")?.requested == ["a", "c"] })
        #expect(try mesh.with("a") { $0.isReachable("b") } && mesh.with("b") { $0.isReachable("a") })
        for round in 0..<20 {
            try publish(mesh, from: "a", (round * 10)..<(round * 10 + 10), to: ["b"], tag: "cut")
            try publish(mesh, from: "a", round..<(round + 1), to: ["c"], tag: "for-c")
            try publish(mesh, from: "a", round..<(round + 1), to: nil, tag: "all")
        }
        var want = expectedMessages("before", 0..<50)
        for round in 0..<20 { want += expectedMessages("cut", (round * 10)..<(round * 10 + 10)) + ["all:\(round)"] }
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == want.count }, "b has \(mesh.delivered("b").count(from: "a"))")
        #expect(mesh.delivered("b").messages(from: "a") == want)
        // c delivered only its own and the broadcasts; the 200 for b it held for relaying.
        var forC = [String]()
        for round in 0..<20 { forC += ["for-c:\(round)", "all:\(round)"] }
        #expect(mesh.delivered("c").messages(from: "a") == forC)
        #expect(try mesh.snapshot("c").storedForRelay == 200)
        #expect(try mesh.snapshot("c").peer("b")?.relayed ?? 0 >= 220)
        #expect(try mesh.snapshot("b").origin("a")?.gaps == 0)

        // Healed: direct again, nothing doubled or lost.
        try block(mesh, "a", "b", false)
        try mesh.waitSettled()
        try publish(mesh, from: "a", 0..<20, to: ["b"], tag: "after")
        want += expectedMessages("after", 0..<20)
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == want.count })
        #expect(mesh.delivered("b").messages(from: "a") == want)
        let b = try mesh.snapshot("b")
        #expect(b.peers.allSatisfy { $0.duplicatesDropped == 0 && $0.gaps == 0 })
        // Through c, b got the 20 messages for c too, and held them.
        #expect(b.storedForRelay == 20)
    }

    /// Links cut again and again (they come back at once) while every node publishes to one peer, to another and
    /// to all: every node gets exactly its messages, once, in order.
    @Test func cutsWhilePublishingTargetedLoseAndDoubleNothing() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        let rounds = 60
        for round in 0..<rounds {
            try publish(mesh, from: "a", (round * 20)..<(round * 20 + 20), to: ["b"], tag: "a>b")
            try publish(mesh, from: "a", round..<(round + 1), to: ["c"], tag: "a>c")
            try publish(mesh, from: "b", (round * 5)..<(round * 5 + 5), to: ["a"], tag: "b>a")
            try publish(mesh, from: "b", round..<(round + 1), to: nil, tag: "b>all")
            if round % 12 == 5 { try mesh.with("a") { $0.testCutLink(to: "b") } }
            if round == 30 { try mesh.with("c") { $0.testCutLink(to: "b") } }
            if round == 40 { try mesh.with("a") { $0.testCutLink(to: "c") } }
            usleep(2000)
        }
        var bFromA = [String]()
        var aFromB = [String]()
        for round in 0..<rounds {
            bFromA += expectedMessages("a>b", (round * 20)..<(round * 20 + 20))
            aFromB += expectedMessages("b>a", (round * 5)..<(round * 5 + 5)) + ["b>all:\(round)"]
        }
        #expect(waitUntil(timeout: 20) {
            mesh.delivered("b").count(from: "a") >= bFromA.count && mesh.delivered("a").count(from: "b") >= aFromB.count
                && mesh.delivered("c").count == 2 * rounds
        })
        #expect(mesh.delivered("b").messages(from: "a") == bFromA)
        #expect(mesh.delivered("a").messages(from: "b") == aFromB)
        #expect(mesh.delivered("c").messages(from: "a") == expectedMessages("a>c", 0..<rounds))
        #expect(mesh.delivered("c").messages(from: "b") == expectedMessages("b>all", 0..<rounds))
        for id in mesh.ids { #expect(try mesh.snapshot(id).origins.allSatisfy { $0.gaps == 0 }) }
    }

    /// Messages for b that a passed over for c were lost in flight to b when the link went: a sends them to c
    /// after all (c has seen no frame since), and b gets them through c without waiting for a.
    @Test func messagesLostInFlightAreSentToTheRelayerOnceTheLinkGoes() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        try publish(mesh, from: "a", 0..<5, to: nil, tag: "all")
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 5 && mesh.delivered("c").count(from: "a") == 5 })

        try mesh.with("a") { $0.testDropData(to: "b", true) }
        try publish(mesh, from: "a", 0..<10, to: ["b"], tag: "lost")
        #expect(try waitUntil { try mesh.snapshot("a").peer("c")?.filteredSkipped == 10 })
        try block(mesh, "a", "b", true)
        try mesh.with("a") { $0.testDropData(to: "b", false) }

        // Well within the 30 s cover wait.
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 15 }, "b has \(mesh.delivered("b").count(from: "a"))")
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("all", 0..<5) + expectedMessages("lost", 0..<10))
        #expect(mesh.delivered("c").count(from: "a") == 5)
        #expect(try mesh.snapshot("b").origin("a")?.gaps == 0)
    }

    /// Messages for b lost in flight, then a message for everyone that c did get (so c records a hole that held b's
    /// messages), then the cut: c must not pass the hole off as filtered for b. b waits (NOT_HELD) and gets them
    /// from a once the link is back: nothing lost, nothing doubled.
    @Test func aHoleHoldingTheDestinationsMessagesIsNotRelayedAsFiltered() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        try publish(mesh, from: "a", 0..<3, to: nil, tag: "all")
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 3 })

        try mesh.with("a") { $0.testDropData(to: "b", true) }
        try publish(mesh, from: "a", 0..<5, to: ["b"], tag: "lost")
        try publish(mesh, from: "a", 3..<4, to: nil, tag: "all")
        #expect(waitUntil { mesh.delivered("c").count(from: "a") == 4 })
        try block(mesh, "a", "b", true)
        try mesh.with("a") { $0.testDropData(to: "b", false) }

        // c feeds b, hits the hole (b's mark 8 > b's cursor 3) and says NOT_HELD; b drops it and looks elsewhere.
        #expect(try waitUntil { try mesh.snapshot("b").peer("c")?.outOfOrderDropped ?? 0 > 0 })
        #expect(mesh.delivered("b").count(from: "a") == 3)
        try publish(mesh, from: "a", 4..<6, to: nil, tag: "all")
        #expect(waitUntil { mesh.delivered("c").count(from: "a") == 6 })
        #expect(mesh.delivered("b").count(from: "a") == 3)

        try block(mesh, "a", "b", false)
        let want = expectedMessages("all", 0..<3) + expectedMessages("lost", 0..<5) + expectedMessages("all", 3..<6)
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == want.count }, "b has \(mesh.delivered("b").count(from: "a"))")
        #expect(mesh.delivered("b").messages(from: "a") == want)
        #expect(try mesh.snapshot("b").origin("a")?.gaps == 0)
        #expect(try mesh.snapshot("b").peers.allSatisfy { $0.duplicatesDropped == 0 })
    }

    /// A destination restarts (a new epoch): what was published for its old life is not replayed to the new one,
    /// nothing traps, and the layer above hears it went away and came back.
    @Test func restartedDestinationGetsOnlyItsNewLifesMessages() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        let events = Shared<[MeshPeerEvent]>([])
        try mesh.with("a") { node in node.onPeerEvent = { event in events.update { $0.append(event) } } }
        try publish(mesh, from: "a", 0..<10, to: ["b"], tag: "old")
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 10 })
        let oldEpoch = try mesh.snapshot("b").epoch

        try mesh.stopNode(mesh.index("b"))
        #expect(try waitUntil { try !mesh.with("a") { $0.isReachable("b") } })
        try publish(mesh, from: "a", 0..<10, to: ["b"], tag: "away")
        var options = MeshOptions()
        options.epoch = oldEpoch + 1_000
        try mesh.startNode(mesh.index("b"), options: options)
        try mesh.waitSettled()
        try publish(mesh, from: "a", 0..<10, to: ["b"], tag: "new")
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 10 })
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("new", 0..<10))
        // c may have held some of them for b (it linked to b's new life before a did), but delivered none.
        #expect(mesh.delivered("c").count(from: "a") == 0)
        #expect(events.value.filter { $0 == .unreachable("b") || $0 == .reachable("b") } == [.unreachable("b"), .reachable("b")])
    }

    /// Tiny logs: a's messages for b are evicted while b is cut off from everyone; b is told how many it lost, c
    /// (which got everything meant for it) loses nothing.
    @Test func evictedTargetedMessagesAreReportedAsGaps() throws {
        var options = MeshOptions()
        options.logMaxCount = 10
        let mesh = try TestMesh(ids: ["a", "b", "c"], options: options)
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        try publish(mesh, from: "a", 0..<3, to: ["b"], tag: "first")
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 3 })

        try block(mesh, "a", "b", true)
        try block(mesh, "c", "b", true)
        #expect(try waitUntil { try !mesh.with("a") { $0.isReachable("b") } })
        for round in 0..<20 {
            try publish(mesh, from: "a", round..<(round + 1), to: ["b"], tag: "b")
            try publish(mesh, from: "a", round..<(round + 1), to: ["c"], tag: "c")
        }
        // a's seqs: 1…3 first, then b:0 = 4, c:0 = 5, … b:19 = 42, c:19 = 43. Its log keeps 34…43.
        #expect(waitUntil { mesh.delivered("c").count(from: "a") == 20 })
        #expect(mesh.delivered("c").messages(from: "a") == expectedMessages("c", 0..<20))
        // Back to a first: c evicted too (its own tiny log), and its jump would be a gap of its own. b's last
        // message is 42 (43 was for c: not sent, nothing follows it).
        try block(mesh, "a", "b", false)
        #expect(try waitUntil { try mesh.snapshot("b").origin("a")?.highestDelivered == 42 })
        try block(mesh, "c", "b", false)
        // b:15…19 (seqs 34, 36, 38, 40, 42) were still in the log.
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("first", 0..<3) + expectedMessages("b", 15..<20))
        #expect(try mesh.snapshot("b").origin("a")?.gaps ?? 0 > 0)
        #expect(try mesh.snapshot("a").peer("b")?.sendGaps == 30)
        #expect(try mesh.snapshot("c").origin("a")?.gaps == 0)
    }

    /// Membership events: unreachable within the failure timeout when a replica stops without a word, left when it
    /// leaves, reachable when it comes back; a replica cut from us but linked to a peer stays reachable.
    @Test func peerEventsFollowReachability() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        let events = Shared<[MeshPeerEvent]>([])
        try mesh.with("a") { node in
            #expect(node.isReachable("b") && node.isReachable("c") && !node.isReachable("a") && !node.isReachable("x"))
            node.onPeerEvent = { event in events.update { $0.append(event) } }
        }

        // Cut from a, linked to c: still reachable, no event.
        try block(mesh, "a", "b", true)
        #expect(try waitUntil { try mesh.snapshot("a").peer("b")?.state == .down })
        #expect(try mesh.with("a") { $0.isReachable("b") })
        try block(mesh, "a", "b", false)
        try mesh.waitSettled()
        #expect(events.value.isEmpty)

        // c stops abruptly: unreachable within the failure timeout (1.2 s).
        let stopped = Date()
        try mesh.stopNode(mesh.index("c"))
        #expect(waitUntil(timeout: 2) { events.value == [.unreachable("c")] }, "\(events.value)")
        #expect(Date().timeIntervalSince(stopped) < 2)
        #expect(try !mesh.with("a") { $0.isReachable("c") })

        // b leaves: left, and no unreachable after it.
        let left = Shared(false)
        try mesh.with("b") { $0.leave { left.update { $0 = true } } }
        #expect(waitUntil(timeout: 2) { left.value })
        #expect(waitUntil(timeout: 2) { events.value == [.unreachable("c"), .left("b")] }, "\(events.value)")

        // Both come back.
        try mesh.startNode(mesh.index("b"))
        try mesh.startNode(mesh.index("c"))
        try mesh.waitSettled()
        #expect(waitUntil {
            let back = events.value.dropFirst(2)
            return back.count == 2 && back.contains(.reachable("b")) && back.contains(.reachable("c"))
        }, "\(events.value)")
        #expect(events.value.count == 4)
    }
}
