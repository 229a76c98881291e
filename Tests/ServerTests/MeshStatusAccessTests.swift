import Testing

@testable import SignalRMesh

/// Issue 9, weakness 6: `/api/mesh` is restricted (`--status-access`, judged by the socket's peer address) and
/// cheap (one rendering per interval).
@Suite struct MeshStatusAccessTests {
    static let loopbackPeers = ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1", "::FFFF:127.9.8.7", "0:0:0:0:0:0:0:1"]
    static let remotePeers = [
        "10.0.0.1", "192.168.1.5", "128.0.0.1", "0.0.0.0", "255.255.255.255", "::", "::2", "fe80::1", "2001:db8::1",
        "::ffff:10.0.0.1", "::127.0.0.1" /* IPv4-compatible, not mapped */, "::ffff:128.0.0.1", "64:ff9b::7f00:1",
        "127.0.0.1.nip.io", "localhost", "", "127.1", "not an address",
    ]

    @Test(arguments: loopbackPeers) func localAllowsLoopbackPeers(_ host: String) {
        #expect(StatusAccess.local.decide(peerHost: host) == .allow, "\(host)")
        #expect(StatusAccess.any.decide(peerHost: host) == .allow)
        #expect(StatusAccess.off.decide(peerHost: host) == .notFound)
    }

    @Test(arguments: remotePeers) func localForbidsEveryoneElse(_ host: String) {
        #expect(StatusAccess.local.decide(peerHost: host) == .forbidden, "\(host)")
        #expect(StatusAccess.any.decide(peerHost: host) == .allow)
        #expect(StatusAccess.off.decide(peerHost: host) == .notFound)
    }

    @Test func unknownPeerIsNotLocal() {
        #expect(StatusAccess.local.decide(peerHost: nil) == .forbidden)
        #expect(StatusAccess.local.decide(peer: nil) == .forbidden)
        #expect(StatusAccess.local.decide(peer: try? .init(parsing: "[::1]:5000")) == .allow)
        #expect(StatusAccess.local.decide(peer: try? .init(parsing: "10.1.2.3:5000")) == .forbidden)
    }

    @Test func renderedAtMostOncePerInterval() {
        var cache = StatusCache(maxAgeNanos: 1_000_000_000)
        var renders = 0
        func get(_ now: UInt64) -> [UInt8] {
            cache.body(now: now) {
                renders += 1
                return Array("body \(renders)".utf8)
            }
        }
        #expect(get(5_000_000_000) == Array("body 1".utf8))
        for t in stride(from: UInt64(5_000_000_000), to: 6_000_000_000, by: 1_000_000) { _ = get(t) }  // 1000 requests
        #expect(renders == 1 && cache.builds == 1)
        #expect(get(6_000_000_000) == Array("body 2".utf8))
        #expect(get(6_500_000_000) == Array("body 2".utf8))
        cache.invalidate()
        #expect(get(6_500_000_001) == Array("body 3".utf8))
        // A clock that goes backwards never serves a body from the future.
        #expect(get(1) == Array("body 4".utf8))
    }

    @Test func flags() throws {
        guard case .run(let d) = try ServerCommandLine.parse(["--node", "a"]) else { throw UsageError("help") }
        #expect(d.options.statusAccess == .local && d.options.statusMaxAge == 1)
        guard case .run(let c) = try ServerCommandLine.parse(["--node", "a", "--status-access", "off", "--status-max-age=0.05"])
        else { throw UsageError("help") }
        #expect(c.options.statusAccess == .off && c.options.statusMaxAge == 0.05)
        #expect(throws: UsageError("--status-access must be one of local, any, off; got 'public'")) {
            try ServerCommandLine.parse(["--node", "a", "--status-access", "public"])
        }
        #expect(throws: UsageError.self) { try ServerCommandLine.parse(["--node", "a", "--status-max-age", "61"]) }
        #expect(ServerCommandLine.usage.contains("--status-access WHO"))
    }
}
