import Foundation
import NetKit
import Testing

@testable import Mesh

/// Live membership (``MeshNode/updateMembership(_:)``): several real nodes in this process over loopback TCP, grown,
/// shrunk and moved while they publish. Serialized: links and redials are timed.
@Suite(.serialized) struct MembershipTests {
    /// `mesh.config` with only the replicas named.
    static func config(_ mesh: TestMesh, _ ids: [String]) -> MeshConfig {
        var config = mesh.config
        config.replicas = config.replicas.filter { ids.contains($0.id) }
        return config
    }

    /// Node `index` with a log of its own.
    static func start(_ mesh: TestMesh, _ id: String, config: MeshConfig, sink: CapturingSink? = nil) throws {
        var options = mesh.baseOptions
        options.logSink = sink
        try mesh.startNode(mesh.index(id), options: options, config: config)
    }

    /// Whether `ids` all have each other up, with direct routes both ways (each asked the other for its messages).
    static func linked(_ mesh: TestMesh, _ ids: [String]) throws -> Bool {
        for id in ids {
            let snap = try mesh.snapshot(id)
            for other in ids where other != id {
                guard let peer = snap.peer(other), peer.state == .up, peer.requested == [other], peer.feeding == [id]
                else { return false }
            }
        }
        return true
    }

    /// `messages` is `origin:k … origin:(end-1)` for some k: a suffix of what `origin` published, in order, with no
    /// hole and nothing twice.
    static func isSuffix(_ messages: [String], of origin: String, end: Int) -> Bool {
        messages == expectedMessages(origin, (end - messages.count)..<end)
    }

    @Test func growingTwoToThreeDialsTheNewNodeAndDeliversExactlyOnce() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"], start: false)
        defer { mesh.shutdownAll() }
        let two = Self.config(mesh, ["a", "b"])
        try Self.start(mesh, "a", config: two)
        try Self.start(mesh, "b", config: two)
        #expect(try waitUntil { try Self.linked(mesh, ["a", "b"]) })
        try mesh.publish(from: "a", 0..<100)
        try mesh.publish(from: "b", 0..<100)

        // a learns of c first; b still has the old file while c comes up (reloads are not atomic across the mesh).
        let change = try mesh.with("a") { try $0.updateMembership(mesh.config) }
        #expect(change.added == ["c"] && change.removed.isEmpty && change.readdressed.isEmpty)
        #expect(change.replicas == ["a", "b", "c"])
        #expect(try mesh.snapshot("a").peer("c")?.state == .connecting)
        try mesh.publish(from: "a", 100..<200)
        try Self.start(mesh, "c", config: mesh.config)
        // Linked, and a asked c for its messages (a node starts a peer it knows nothing of at its next message).
        #expect(try waitUntil { try mesh.snapshot("c").peer("a")?.feeding == ["c"] })
        try mesh.publish(from: "c", 0..<50)
        // b refuses c until it reloads, but c hears b's messages through a meanwhile (the relay around the link
        // that can't exist yet).
        #expect(try waitUntil { try mesh.snapshot("c").peer("a")?.requested == ["a", "b"] })
        try mesh.publish(from: "b", 100..<200)
        #expect(waitUntil { mesh.delivered("c").messages(from: "b").last == "b:199" })
        #expect(try mesh.snapshot("b").peer("c") == nil && mesh.snapshot("c").peer("b")?.state == .connecting)
        let bChange = try mesh.with("b") { try $0.updateMembership(mesh.config) }
        #expect(bChange.added == ["c"])
        try mesh.waitSettled()
        for id in mesh.ids { try mesh.publish(from: id, (id == "c" ? 50 : 200)..<300) }

        #expect(waitUntil { mesh.delivered("a").count(from: "c") == 300 && mesh.delivered("b").messages(from: "c").last == "c:299" })
        #expect(waitUntil { mesh.delivered("a").count(from: "b") == 300 && mesh.delivered("b").count(from: "a") == 300 })
        // The old members get everything of each other and of c since they knew it, in order, once.
        #expect(mesh.delivered("a").messages(from: "b") == expectedMessages("b", 0..<300))
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 0..<300))
        #expect(mesh.delivered("a").messages(from: "c") == expectedMessages("c", 0..<300))
        let bFromC = mesh.delivered("b").messages(from: "c")
        #expect(Self.isSuffix(bFromC, of: "c", end: 300) && bFromC.count >= 250, "b from c: \(bFromC.prefix(3))…")
        // The newcomer gets what was published once it was linked (a suffix), with everything after it joined.
        #expect(waitUntil { mesh.delivered("c").messages(from: "a").last == "a:299" && mesh.delivered("c").messages(from: "b").last == "b:299" })
        for origin in ["a", "b"] {
            let got = mesh.delivered("c").messages(from: origin)
            #expect(Self.isSuffix(got, of: origin, end: 300), "c from \(origin): \(got.prefix(3))… (\(got.count))")
            #expect(got.count >= 100)
        }
        for id in mesh.ids {
            let snap = try mesh.snapshot(id)
            #expect(snap.peers.map(\.id) == mesh.ids.filter { $0 != id })
            for peer in snap.peers { #expect(peer.gaps == 0 && peer.duplicatesDropped == 0, "\(id)/\(peer.id)") }
            for origin in snap.origins { #expect(origin.gaps == 0, "\(id)/\(origin.id)") }
        }
    }

    @Test func shrinkingThreeToTwoLeavesTheRemovedNodeAndNeverDialsIt() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"], start: false)
        defer { mesh.shutdownAll() }
        // a reaches c only through a proxy, so its dials to c can be counted.
        let proxy = try TestProxy(target: mesh.listeners[mesh.index("c")].port)
        defer { proxy.stop() }
        var viaProxy = mesh.config
        viaProxy.replicas[mesh.index("c")].mesh.port = proxy.port
        let logA = CapturingSink()
        let logC = CapturingSink()
        try Self.start(mesh, "a", config: viaProxy, sink: logA)
        try Self.start(mesh, "b", config: mesh.config)
        try Self.start(mesh, "c", config: mesh.config, sink: logC)
        try mesh.waitSettled()
        for id in mesh.ids { try mesh.publish(from: id, 0..<100) }
        #expect(waitUntil { mesh.ids.allSatisfy { mesh.delivered($0).count == 200 } })

        // a drops c; b still has the old file for a while, and c keeps publishing.
        let two = Self.config(mesh, ["a", "b"])
        var twoForA = two
        twoForA.replicas = viaProxy.replicas.filter { $0.id != "c" }
        let change = try mesh.with("a") { try $0.updateMembership(twoForA) }
        #expect(change.removed == ["c"] && change.added.isEmpty && change.replicas == ["a", "b"])
        let dialsAtRemoval = proxy.state.withLock { $0.connections }
        // c hears a leave (not a failure), and its redials are refused as an unknown id.
        #expect(try waitUntil { try mesh.snapshot("c").peer("a")?.state == .left })
        try mesh.publish(from: "c", 100..<200)
        try mesh.publish(from: "a", 100..<200)
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 200 && mesh.delivered("c").count(from: "a") == 200 })
        let bChange = try mesh.with("b") { try $0.updateMembership(two) }
        #expect(bChange.removed == ["c"])
        #expect(try waitUntil { try mesh.snapshot("c").peer("b")?.state == .left })
        try mesh.publish(from: "c", 200..<300)
        try mesh.publish(from: "a", 200..<300)
        try mesh.publish(from: "b", 100..<300)
        #expect(waitUntil { mesh.delivered("a").count(from: "b") == 300 && mesh.delivered("b").count(from: "a") == 300 })

        // c redialed a at least twice and was refused (one line for it on a: expected, not a warning) …
        #expect(try waitUntil(timeout: 5) { try mesh.with("a") { $0.refusedDeparted } >= 2 })
        let refusals = logA.lines.filter { $0.contains("link refused: replica removed from the peers file") && $0.contains("peer=c") }
        #expect(refusals.count == 1 && !refusals[0].lowercased().contains("warn"), "\(refusals)")
        #expect(!logA.lines.contains { $0.contains("peer id \"c\" is not in peers.json") })
        #expect(logC.lines.contains { $0.contains("dial failed") && $0.contains("rejected by peer") && $0.contains("unknown node id") })
        // … and a never dialed c again; c is not in a's view at all, and nothing of c's was counted as lost.
        #expect(proxy.state.withLock { $0.connections } == dialsAtRemoval)
        #expect(logA.lines.contains { $0.contains("msg=\"replica removed\"") && $0.contains("peer=c") })
        #expect(!logA.lines.contains { $0.contains("gap") })
        for id in ["a", "b"] {
            let snap = try mesh.snapshot(id)
            #expect(snap.peers.map(\.id) == ["a", "b"].filter { $0 != id })
            #expect(snap.origins.map(\.id) == ["a", "b"].filter { $0 != id })
            #expect(snap.peers.allSatisfy { $0.gaps == 0 && $0.sendGaps == 0 && $0.unexpectedOrigin == 0 })
        }
        #expect(try !mesh.with("a") { $0.isReachable("c") })
        // What a got of c: exactly what c published before a removed it (b relays none of it afterwards).
        #expect(mesh.delivered("a").messages(from: "c") == expectedMessages("c", 0..<100))
        #expect(mesh.delivered("b").messages(from: "c") == expectedMessages("c", 0..<200))
        #expect(mesh.delivered("a").messages(from: "b") == expectedMessages("b", 0..<300))
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 0..<300))
        #expect(mesh.delivered("c").messages(from: "a") == expectedMessages("a", 0..<200))

        // Added back (the same running c): linked again, and only c's new messages flow.
        let again = try mesh.with("a") { try $0.updateMembership(viaProxy) }
        #expect(again.added == ["c"])
        _ = try mesh.with("b") { try $0.updateMembership(mesh.config) }
        try mesh.waitSettled()
        try mesh.publish(from: "c", 300..<350)
        #expect(waitUntil { mesh.delivered("a").messages(from: "c").last == "c:349" })
        let tail = mesh.delivered("a").messages(from: "c").dropFirst(100)
        #expect(Self.isSuffix(Array(tail), of: "c", end: 350) && tail.count >= 50)
    }

    @Test func changedAddressIsRedialed() throws {
        let mesh = try TestMesh(ids: ["a", "b"], start: false)
        defer { mesh.shutdownAll() }
        let proxy = try TestProxy(target: mesh.listeners[mesh.index("b")].port)
        defer { proxy.stop() }
        // a reaches b through the proxy; b can't reach a at all (a dead address), so every link is a's dial.
        var viaProxy = mesh.config
        viaProxy.replicas[mesh.index("b")].mesh.port = proxy.port
        var deadA = mesh.config
        deadA.replicas[mesh.index("a")].mesh.port = try Self.unusedPort()
        try Self.start(mesh, "a", config: viaProxy)
        try Self.start(mesh, "b", config: deadA)
        #expect(try waitUntil { try Self.linked(mesh, ["a", "b"]) })
        #expect(proxy.state.withLock { $0.connections } >= 1)
        try mesh.publish(from: "a", 0..<100)
        try mesh.publish(from: "b", 0..<100)
        // (A node that has had nothing of an origin yet asks a new link for its new messages only.)
        #expect(waitUntil { mesh.delivered("a").count == 100 && mesh.delivered("b").count == 100 })

        // Messages published in the same loop turn as the change never make it onto the closed link: replayed.
        let change = try mesh.with("a") { node in
            for n in 100..<150 { node.publish(Array("a:\(n)".utf8)) }
            return try node.updateMembership(mesh.config)
        }
        #expect(change.readdressed == ["b"] && change.added.isEmpty && change.removed.isEmpty)
        let dials = proxy.state.withLock { $0.connections }
        try mesh.publish(from: "a", 150..<200)
        #expect(try waitUntil { try Self.linked(mesh, ["a", "b"]) && mesh.snapshot("a").peer("b")?.dialedByUs == true })
        #expect(try mesh.snapshot("a").peer("b")?.address == mesh.config.replica("b")!.mesh.description)
        #expect(proxy.state.withLock { $0.connections } == dials, "a dialed the old address again")
        try mesh.publish(from: "b", 100..<200)
        #expect(waitUntil { mesh.delivered("a").count == 200 && mesh.delivered("b").count == 200 })
        #expect(mesh.delivered("a").messages(from: "b") == expectedMessages("b", 0..<200))
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 0..<200))
        #expect(try mesh.snapshot("b").peer("a")?.gaps == 0)
    }

    @Test func refusedConfigsKeepTheMembership() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"])
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        let good = mesh.config
        let links = { try mesh.ids.map { id in try mesh.with(id) { node in node.peerList.map { node.linksEstablished(with: $0.id) } } } }
        let linksBefore = try links()
        var withoutSelf = good
        withoutSelf.replicas.removeAll { $0.id == "a" }
        var otherCluster = good
        otherCluster.cluster = "other"
        otherCluster.replicas.removeLast()
        var otherSecret = good
        otherSecret.secret = "another-secret-0123456789"
        var movedSelf = good
        movedSelf.replicas[0].mesh.port = try Self.unusedPort()
        var movedHTTP = good
        movedHTTP.replicas[0].http.port &+= 1
        var otherEncryption = good
        otherEncryption.encryption = .on
        var twice = good
        twice.replicas.append(twice.replicas[1])
        var weak = good
        weak.replicas[0].mesh.host = "10.1.2.3"
        weak.secret = "short"

        let cases: [(MeshConfig, (MembershipError) -> Bool)] = [
            (withoutSelf, { if case .invalid(.unknownNode("a", _)) = $0 { true } else { false } }),
            (otherCluster, { $0 == .clusterChanged(from: "test", to: "other") }),
            (otherSecret, { $0 == .secretChanged }),
            (movedSelf, { if case .ownAddressChanged("mesh", _, _) = $0 { true } else { false } }),
            (movedHTTP, { if case .ownAddressChanged("http", _, _) = $0 { true } else { false } }),
            (otherEncryption, { $0 == .encryptionChanged(from: .auto, to: .on) }),
            (weak, { if case .invalid(.weakSecret) = $0 { true } else { false } }),
            (twice, { $0 == .invalid(.duplicateId("b")) }),
        ]
        for (config, expected) in cases {
            let outcome = try mesh.with("a") { node -> Result<MembershipChange, MembershipError> in
                do throws(MembershipError) {
                    return .success(try node.updateMembership(config))
                } catch {
                    return .failure(error)
                }
            }
            guard case .failure(let error) = outcome else {
                Issue.record("accepted \(config)")
                continue
            }
            #expect(expected(error), "\(error)")
            #expect(!error.description.isEmpty && !error.description.contains("\n"))
            #expect(try mesh.with("a") { $0.config } == good)
        }
        #expect(MembershipError.invalid(.unknownNode("a", known: ["b", "c"])).description.contains("not in the file any more"))
        // Same membership: nothing to do, nothing closed.
        let same = try mesh.with("a") { try $0.updateMembership(good) }
        #expect(same.isEmpty && same.summary == "added none; removed none; moved none")
        try mesh.waitSettled()
        #expect(try mesh.snapshot("a").peer("b")?.state == .up && mesh.snapshot("b").peer("a")?.state == .up)
        for id in mesh.ids { try mesh.publish(from: id, 0..<50) }
        #expect(waitUntil { mesh.ids.allSatisfy { mesh.delivered($0).count == 100 } })
        #expect(try links() == linksBefore)
    }

    /// A loopback port nothing listens on (bound, then closed).
    static func unusedPort() throws -> UInt16 {
        let loop = try EventLoop.spawn(name: "port")
        defer { loop.stop() }
        return try onLoop(loop) {
            let listener = try MeshListener(loop: loop, host: "127.0.0.1", port: 0)
            defer { listener.close() }
            return listener.port
        }
    }
}
