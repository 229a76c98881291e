import Foundation
import NetKit
import Testing

@testable import Mesh

/// Real MeshNodes over loopback with encrypted links. Serialized: timing-sensitive like MeshNodeTests.
@Suite(.serialized) struct EncryptedLinkTests {
    @Test func encryptedMeshDeliversExactlyOnceAndRekeys() throws {
        var options = MeshOptions()
        options.rekey = RekeyPolicy(afterRecords: 2)
        let mesh = try TestMesh(ids: ["a", "b", "c"], options: options, encryption: .on)
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        for id in mesh.ids {
            #expect(try mesh.snapshot(id).peers.allSatisfy(\.encrypted), "\(id) has a link in clear")
        }

        for id in mesh.ids { try mesh.publish(from: id, 0..<300, chunk: 50) }
        // One message bigger than a record: it crosses in several.
        let big = [UInt8](repeating: 0x77, count: 200_000)
        try mesh.with("a") { $0.publish(big) }
        for id in mesh.ids {
            let expected = id == "a" ? 600 : 601
            #expect(waitUntil { mesh.delivered(id).count == expected }, "node \(id) delivered \(mesh.delivered(id).count)")
            for origin in mesh.ids where origin != id {
                let messages = mesh.delivered(id).messages(from: origin)
                #expect(Array(messages.prefix(300)) == expectedMessages(origin, 0..<300))
            }
        }
        #expect(mesh.delivered("b").messages(from: "a").last?.utf8.count == big.count)
        for id in mesh.ids {
            for peer in try mesh.snapshot(id).peers {
                #expect(peer.duplicatesDropped == 0 && peer.gaps == 0 && peer.state == .up)
            }
        }
        // Keys moved on many times along the way, in lockstep (the links never dropped).
        let counts = try #require(try mesh.with("a") { $0.recordCounts("b") })
        #expect(counts.sendRekeys >= 3 && counts.receiveRekeys >= 3, "\(counts)")
    }

    @Test func tamperedRecordDropsTheLinkLogsWhyAndRecovers() throws {
        let sink = CapturingSink()
        var options = MeshOptions()
        options.logSink = sink
        let mesh = try TestMesh(ids: ["a", "b"], options: options, encryption: .on)
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        try mesh.publish(from: "a", 0..<500, chunk: 50)
        #expect(waitUntil { mesh.delivered("b").count == 500 })

        try mesh.with("a") { $0.testCorruptNextRecord(to: "b") }
        try mesh.publish(from: "a", 500..<1000, chunk: 50)
        #expect(waitUntil { sink.lines.contains { $0.contains(#"logger=mesh-b msg="link down" peer=a reason="record authentication failed"#) } })
        // b's line (a logs its own `link down` for the same link, and may log it first).
        let line = sink.lines.first { $0.contains("logger=mesh-b ") && $0.contains(#"msg="link down""#) } ?? ""
        #expect(line.contains(" level=warning ") && line.contains("peer=a"), "\(line)")
        // The link comes back by itself and everything arrives once, in order.
        #expect(waitUntil(timeout: 15) { mesh.delivered("b").count(from: "a") >= 1000 })
        try mesh.waitSettled()
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 0..<1000))
        #expect(try mesh.snapshot("b").peer("a")?.encrypted == true)
    }

    /// A link is encrypted when either side asks; loopback on both ends with "auto" stays in clear.
    @Test(arguments: [
        (EncryptionSetting.on, EncryptionSetting.off, true), (.off, .on, true), (.off, .off, false), (.auto, .auto, false),
        (.auto, .on, true),
    ])
    func encryptedWhenEitherSideAsks(_ a: EncryptionSetting, _ b: EncryptionSetting, _ encrypted: Bool) throws {
        let mesh = try TestMesh(ids: ["a", "b"], start: false)
        defer { mesh.shutdownAll() }
        var configA = mesh.config
        configA.encryption = a
        var configB = mesh.config
        configB.encryption = b
        try mesh.startNode(mesh.index("a"), config: configA)
        try mesh.startNode(mesh.index("b"), config: configB)
        try mesh.waitSettled()
        #expect(try mesh.snapshot("a").peer("b")?.encrypted == encrypted)
        #expect(try mesh.snapshot("b").peer("a")?.encrypted == encrypted)
        try mesh.publish(from: "a", 0..<50)
        try mesh.publish(from: "b", 0..<50)
        #expect(waitUntil { mesh.delivered("a").count == 50 && mesh.delivered("b").count == 50 })
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 0..<50))
    }

    /// The a–b link runs through a proxy that records its bytes. Encrypted: no message text crosses in clear, and a
    /// byte flipped on the wire drops the link, which comes back and delivers everything once. In clear (the control)
    /// the same text is plainly visible, so the check can fail.
    @Test(arguments: [true, false])
    func onlyCiphertextOnTheWire(encrypted: Bool) throws {
        let sink = CapturingSink()
        var options = MeshOptions()
        options.logSink = sink
        let mesh = try TestMesh(ids: ["a", "b"], options: options, encryption: encrypted ? .on : .off, start: false)
        defer { mesh.shutdownAll() }
        let proxy = try TestProxy(target: mesh.listeners[mesh.index("b")].port)
        defer { proxy.stop() }
        // a reaches b only through the proxy; a's dial (the lower id's) is the link both keep.
        var configA = mesh.config
        configA.replicas[mesh.index("b")].mesh = HostPort(host: "127.0.0.1", port: proxy.port)
        // b first, so a's dial (through the proxy) finds it listening; b's dial to a finds nobody yet.
        try mesh.startNode(mesh.index("b"))
        try mesh.startNode(mesh.index("a"), config: configA)
        try mesh.waitSettled()
        #expect(try mesh.snapshot("a").peer("b")?.dialedByUs == true)
        #expect(try mesh.snapshot("a").peer("b")?.encrypted == encrypted)

        try mesh.publish(from: "a", 0..<200, tag: "a-says-SECRETMARK")
        try mesh.publish(from: "b", 0..<200, tag: "b-says-SECRETMARK")
        #expect(waitUntil { mesh.delivered("a").count == 200 && mesh.delivered("b").count == 200 })
        let captured = proxy.state.withLock { ($0.up, $0.down) }
        let marker = Array("SECRETMARK".utf8)
        #expect(captured.0.count > 2000 && captured.1.count > 2000)
        #expect(captured.0.containsBytes(marker) == !encrypted, "a→b bytes")
        #expect(captured.1.containsBytes(marker) == !encrypted, "b→a bytes")
        guard encrypted else { return }
        // The handshake itself is in clear (HELLO names the cluster); everything after it is not.
        #expect(captured.0.containsBytes(Array("test".utf8)))

        // Flip one byte well past the handshake, while a keeps publishing.
        let upSoFar = proxy.state.withLock { $0.up.count }
        proxy.state.withLock { $0.flipUpAt = upSoFar + 3000 }
        var next = 200
        let dropped = waitUntil(timeout: 10) {
            if next < 2000 {
                try? mesh.publish(from: "a", next..<(next + 50), tag: "a-says-SECRETMARK")
                next += 50
            }
            return sink.lines.contains { $0.contains(#"logger=mesh-b msg="link down" peer=a reason="record authentication failed"#) }
        }
        #expect(dropped)
        #expect(proxy.state.withLock { $0.flipped })
        #expect(waitUntil(timeout: 15) { mesh.delivered("b").count(from: "a") >= next })
        try mesh.waitSettled()
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a-says-SECRETMARK", 0..<next))
        // Back up, encrypted again, whichever side's redial won (b may reach a directly, not through the proxy).
        #expect(try mesh.snapshot("a").peer("b")?.state == .up)
        #expect(try mesh.snapshot("a").peer("b")?.encrypted == true)
    }
}
