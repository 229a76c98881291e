import Foundation
import NetKit
import Testing

@testable import Mesh

/// Links that die right after their handshake (a network corrupting every record): the pair must back off, not
/// re-handshake as fast as it can, and each drop is one log line, rate limited. Serialized: timing-sensitive.
@Suite(.serialized) struct RedialTests {
    /// Samples `body` every 20 ms for `seconds` (an observation window, not a wait for an event).
    static func observe(for seconds: Double, _ body: () throws -> Void) rethrows {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            try body()
            usleep(20_000)
        }
    }

    /// Before the fix the backoff started over at every "link up", so with every record corrupted the pair
    /// re-handshook within 0–50 ms of each drop: hundreds of links in 4 s. Now it backs off to the cap (about three
    /// links a second between both sides' dials), and comes back within the cap once the corruption stops.
    @Test func linkDyingAfterEveryHandshakeBacksOffAndRecoversOnceHealed() throws {
        let sink = CapturingSink()
        var options = MeshOptions()
        options.logSink = sink
        let mesh = try TestMesh(ids: ["a", "b"], options: options, encryption: .on)
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        let before = try mesh.with("a") { $0.linksEstablished(with: "b") }
        try mesh.with("a") { $0.testCorruptRecords(to: "b", true) }
        var sawDown = false
        try Self.observe(for: 4) {
            if try mesh.snapshot("b").peer("a")?.state != .up { sawDown = true }
        }
        let links = try mesh.with("a") { $0.linksEstablished(with: "b") } - before
        #expect(sawDown, "the corruption never took the link down")
        #expect(links >= 2 && links <= 12, "\(links) links came up in 4 s of corruption")

        let healed = Date()
        try mesh.with("a") { $0.testCorruptRecords(to: "b", false) }
        let recovered = try waitUntil(timeout: 3) { try mesh.isSettled() }
        let elapsed = Date().timeIntervalSince(healed)
        #expect(recovered && elapsed < 1.5, "link back after \(elapsed) s")
        // And it stays up.
        let settledLinks = try mesh.with("a") { $0.linksEstablished(with: "b") }
        try mesh.publish(from: "a", 0..<100)
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 100 })
        #expect(try mesh.with("a") { $0.linksEstablished(with: "b") } == settledLinks)
        #expect(mesh.delivered("b").messages(from: "a") == expectedMessages("a", 0..<100))
    }

    /// A link that stays up past ``MeshOptions/linkStableNanos`` (and answered a heartbeat) earns a fresh backoff:
    /// after a later cut the redial is immediate again, not at the cap.
    @Test func stableLinkStartsTheBackoffOver() throws {
        var options = MeshOptions()
        options.linkStableNanos = 300_000_000
        let mesh = try TestMesh(ids: ["a", "b"], options: options, encryption: .on)
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        // Drive the backoff up: six links that die at once.
        for _ in 0..<6 {
            let count = try mesh.with("a") { $0.linksEstablished(with: "b") }
            try mesh.with("a") { $0.testCorruptNextRecord(to: "b") }
            try mesh.with("a") { $0.publish(Array("x".utf8)) }
            #expect(try waitUntil(timeout: 5) { try mesh.with("a") { $0.linksEstablished(with: "b") } > count })
        }
        #expect(try mesh.with("a") { $0.backoffAttempts("b") } >= 4)
        // Up and healthy for a while: the backoff starts over.
        #expect(try waitUntil(timeout: 3) { try mesh.with("a") { $0.backoffAttempts("b") } == 0 })
    }

    /// Every drop is one line on each side (not "link to X dropped" plus "link down" with the same reason).
    @Test func eachDropIsLoggedOnce() throws {
        let sink = CapturingSink()
        var options = MeshOptions()
        options.logSink = sink
        options.failureLogBurst = 100
        let mesh = try TestMesh(ids: ["a", "b"], options: options, encryption: .on)
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        for round in 1...3 {
            let count = try mesh.with("a") { $0.linksEstablished(with: "b") }
            try mesh.with("a") { $0.testCorruptNextRecord(to: "b") }
            try mesh.with("a") { $0.publish(Array("x".utf8)) }
            #expect(try waitUntil(timeout: 5) { try mesh.with("a") { $0.linksEstablished(with: "b") } > count })
            try mesh.waitSettled()
            let warnings = { (node: String) in
                sink.lines.filter { $0.contains(" level=warning logger=mesh-\(node) ") && !$0.contains("handshake") }
            }
            #expect(warnings("b").count == round, "\(warnings("b"))")
            #expect(warnings("b").allSatisfy { $0.contains(#"msg="link down" peer=a reason="record authentication failed"#) })
            #expect(warnings("a").count == round, "\(warnings("a"))")
            #expect(warnings("a").allSatisfy { $0.contains(#"msg="link down" peer=b "#) })
        }
    }

    /// The same drop over and over costs a few lines, and the next line says how many were held back.
    @Test func repeatedDropsAreRateLimited() throws {
        let sink = CapturingSink()
        var options = MeshOptions()
        options.logSink = sink
        options.failureLogBurst = 3
        options.failureLogIntervalNanos = 1_000_000_000
        let mesh = try TestMesh(ids: ["a", "b"], options: options, encryption: .on)
        defer { mesh.shutdownAll() }
        try mesh.waitSettled()
        let before = try mesh.with("a") { $0.linksEstablished(with: "b") }
        try mesh.with("a") { $0.testCorruptRecords(to: "b", true) }
        defer { try? mesh.with("a") { $0.testCorruptRecords(to: "b", false) } }
        let started = Date()
        let limited = waitUntil(timeout: 8) {
            sink.lines.contains { $0.contains(#"logger=mesh-b msg="link down" peer=a reason="record authentication failed"#) && $0.contains("suppressed=") }
        }
        let elapsed = Date().timeIntervalSince(started)
        let drops = try mesh.with("a") { $0.linksEstablished(with: "b") } - before
        #expect(limited, "no line said how many were suppressed (\(drops) drops)")
        let lines = sink.lines.filter { $0.contains(#"logger=mesh-b msg="link down" peer=a"#) }
        #expect(lines.count >= 3 && lines.count <= 3 + Int(elapsed) + 1, "\(lines.count) lines for \(drops) drops in \(elapsed) s")
        let ups = sink.lines.filter { $0.contains(#"logger=mesh-b msg="link up""#) }
        #expect(ups.count <= 3 + Int(elapsed) + 1, "\(ups.count) 'link up' lines for \(drops) drops")
    }
}
