import NetKit
import Testing

@testable import Mesh

@Suite struct LinkPolicyTests {
    typealias C = LinkPolicy.Candidate

    @Test func noExistingLinkKeepsNew() {
        #expect(LinkPolicy.decide(selfId: "b", peerId: "a", existing: nil, new: C(dialer: "b", peerEpoch: 1)) == .keepNew(closeExisting: false))
        #expect(LinkPolicy.decide(selfId: "a", peerId: "b", existing: nil, new: C(dialer: "b", peerEpoch: 1)) == .keepNew(closeExisting: false))
    }

    /// Both dial at once: each side sees the other's dial while its own is in handshake (peer epoch
    /// possibly unknown). Both must keep the link dialed by "a" (the lower id).
    @Test(arguments: [nil, UInt64(5)])
    func bothDialAtOnceKeepsLowerIdsDial(knownEpoch: UInt64?) {
        // At "a": its own outbound (dialed by a) exists; b's dial arrives.
        let atA = LinkPolicy.decide(
            selfId: "a", peerId: "b", existing: C(dialer: "a", peerEpoch: knownEpoch), new: C(dialer: "b", peerEpoch: 5))
        // At "b": its own outbound (dialed by b) exists; a's dial arrives.
        let atB = LinkPolicy.decide(
            selfId: "b", peerId: "a", existing: C(dialer: "b", peerEpoch: knownEpoch), new: C(dialer: "a", peerEpoch: 5))
        #expect(atA == .rejectNew)
        #expect(atB == .keepNew(closeExisting: true))
        // Dialer side when its outbound completes while an inbound exists: same answer.
        #expect(
            LinkPolicy.decide(selfId: "a", peerId: "b", existing: C(dialer: "b", peerEpoch: 5), new: C(dialer: "a", peerEpoch: 5))
                == .keepNew(closeExisting: true))
        #expect(
            LinkPolicy.decide(selfId: "b", peerId: "a", existing: C(dialer: "a", peerEpoch: 5), new: C(dialer: "b", peerEpoch: 5))
                == .rejectNew)
    }

    @Test func restartedPeerWinsEvenAgainstLowerIdsLink() {
        // a (lower) has a live-looking link it dialed to b's old life (epoch 5); b restarted (epoch 9) and dials.
        #expect(
            LinkPolicy.decide(selfId: "a", peerId: "b", existing: C(dialer: "a", peerEpoch: 5), new: C(dialer: "b", peerEpoch: 9))
                == .keepNew(closeExisting: true))
        // b (higher) had the old link to a's old life; a restarted and dials b.
        #expect(
            LinkPolicy.decide(selfId: "b", peerId: "a", existing: C(dialer: "b", peerEpoch: 5), new: C(dialer: "a", peerEpoch: 9))
                == .keepNew(closeExisting: true))
    }

    @Test func staleLinkFromOlderLifeIsRejected() {
        #expect(
            LinkPolicy.decide(selfId: "a", peerId: "b", existing: C(dialer: "b", peerEpoch: 9), new: C(dialer: "a", peerEpoch: 5))
                == .rejectNew)
        #expect(
            LinkPolicy.decide(selfId: "b", peerId: "a", existing: C(dialer: "b", peerEpoch: 9), new: C(dialer: "a", peerEpoch: 5))
                == .rejectNew)
    }

    @Test func redialBySameDialerReplacesOldLink() {
        // The dialer only dials when it has no link, so its new dial supersedes a link we still think alive.
        #expect(
            LinkPolicy.decide(selfId: "a", peerId: "b", existing: C(dialer: "b", peerEpoch: 5), new: C(dialer: "b", peerEpoch: 5))
                == .keepNew(closeExisting: true))
        #expect(
            LinkPolicy.decide(selfId: "b", peerId: "a", existing: C(dialer: "a", peerEpoch: 5), new: C(dialer: "a", peerEpoch: 5))
                == .keepNew(closeExisting: true))
    }

    @Test func higherIdsLinkKeptOnlyWhileLowerHasNone() {
        #expect(LinkPolicy.decide(selfId: "a", peerId: "b", existing: nil, new: C(dialer: "b", peerEpoch: 5)) == .keepNew(closeExisting: false))
        #expect(
            LinkPolicy.decide(selfId: "a", peerId: "b", existing: C(dialer: "a", peerEpoch: nil), new: C(dialer: "b", peerEpoch: 5))
                == .rejectNew)
    }
}

@Suite struct BackoffTests {
    @Test func ceilingDoublesUpToCapAndResets() {
        var backoff = Backoff()
        var rng = SplitMix(seed: 1)
        var ceilings = [UInt64]()
        for _ in 0..<8 {
            ceilings.append(backoff.currentCeiling)
            let delay = backoff.nextDelay(using: &rng)
            #expect(delay <= ceilings.last!)
        }
        #expect(ceilings == [50, 100, 200, 400, 800, 1000, 1000, 1000].map { UInt64($0) * 1_000_000 })
        backoff.reset()
        #expect(backoff.currentCeiling == 50_000_000 && backoff.attempt == 0)
        for _ in 0..<200 { _ = backoff.nextDelay(using: &rng) }
        #expect(backoff.currentCeiling == 1_000_000_000)
    }

    @Test func fullJitterSpreadsDelays() {
        var rng = SplitMix(seed: 99)
        var delays = Set<UInt64>()
        for _ in 0..<50 {
            var backoff = Backoff()
            for _ in 0..<5 { _ = backoff.nextDelay(using: &rng) }
            delays.insert(backoff.nextDelay(using: &rng))
        }
        #expect(delays.count > 40)
        #expect(delays.allSatisfy { $0 <= 1_000_000_000 })
        #expect(delays.contains { $0 < 500_000_000 })
    }
}

@Suite struct FailureDetectorTests {
    let ms: UInt64 = 1_000_000

    @Test func downAfterTimeoutNotBefore() {
        var detector = FailureDetector(now: 1000 * ms)
        #expect(!detector.isDown(now: 1000 * ms + 1199 * ms))
        #expect(!detector.isDown(now: 1000 * ms + 1200 * ms))
        #expect(detector.isDown(now: 1000 * ms + 1201 * ms))
        #expect(detector.poll(now: 2201 * ms) == .init(down: true, sendHeartbeat: false))
    }

    @Test func anyFrameCountsAsLife() {
        var detector = FailureDetector(now: 0)
        var now: UInt64 = 0
        // A frame every second for ten seconds: never down, though far apart relative to heartbeats.
        for _ in 0..<10 {
            now += 1000 * ms
            #expect(!detector.isDown(now: now))
            detector.received(now: now)
        }
        #expect(detector.isDown(now: now + 1201 * ms))
        #expect(!detector.isDown(now: now + 1200 * ms))
    }

    @Test func heartbeatsEvery200msRegardlessOfTraffic() {
        var detector = FailureDetector(now: 0)
        var sent = [UInt64]()
        var now: UInt64 = 0
        while now <= 1000 * ms {
            detector.received(now: now)  // busy link
            if detector.poll(now: now).sendHeartbeat { sent.append(now / ms) }
            now += 10 * ms
        }
        #expect(sent == [0, 200, 400, 600, 800, 1000])
        #expect(detector.heartbeatsSent == 6)
    }

    @Test func stalledLoopDoesNotBurstHeartbeats() {
        var detector = FailureDetector(now: 0)
        _ = detector.poll(now: 0)
        detector.received(now: 900 * ms)
        #expect(detector.poll(now: 1000 * ms).sendHeartbeat)
        #expect(!detector.poll(now: 1001 * ms).sendHeartbeat)
        #expect(detector.nextHeartbeatNanos == 1200 * ms)
        #expect(detector.nextDeadlineNanos == 1200 * ms)
    }
}

@Suite struct HandshakeTests {
    static let secret = Array("a-long-shared-secret-value".utf8)
    let dialerIdentity = HandshakeIdentity(cluster: "demo", nodeId: "a", epoch: 100, secret: secret)
    let acceptorIdentity = HandshakeIdentity(cluster: "demo", nodeId: "b", epoch: 200, secret: secret)
    let peers: Set<String> = ["a", "b", "c"]
    let nonceD = [UInt8](repeating: 0x11, count: 32)
    let nonceA = [UInt8](repeating: 0x22, count: 32)

    func makeDialer(_ identity: HandshakeIdentity? = nil, expect: String = "b") -> Handshake {
        Handshake(role: .dialer, local: identity ?? dialerIdentity, nonce: nonceD, expectedPeer: expect, knownPeers: peers)
    }

    func makeAcceptor(_ identity: HandshakeIdentity? = nil) -> Handshake {
        Handshake(role: .acceptor, local: identity ?? acceptorIdentity, nonce: nonceA, knownPeers: peers)
    }

    static func sent(_ actions: [Handshake.Action]) -> [MeshFrame] {
        actions.compactMap { if case .send(let f) = $0 { return f }; return nil }
    }

    static func failure(_ actions: [Handshake.Action]) -> String? {
        for action in actions { if case .fail(let reason) = action { return reason } }
        return nil
    }

    /// Runs frames between the two machines until neither has anything to send, returning each side's
    /// non-send actions. Frames go through encode/decode so the wire form is exercised too.
    static func run(dialer: inout Handshake, acceptor: inout Handshake, decide: (String, UInt64) -> Bool = { _, _ in true })
        throws -> (dialer: [Handshake.Action], acceptor: [Handshake.Action])
    {
        var toAcceptor = sent(dialer.start())
        var toDialer = [MeshFrame]()
        var dialerEvents = [Handshake.Action]()
        var acceptorEvents = [Handshake.Action]()
        while !toAcceptor.isEmpty || !toDialer.isEmpty {
            for frame in toAcceptor {
                let wire = try MeshFrame.decode(typeAndBody: Array(frame.encoded()[4...]))
                var actions = acceptor.receive(wire)
                for case .authenticated(let id, let epoch) in actions {
                    actions += decide(id, epoch) ? acceptor.accept() : acceptor.reject(reason: "duplicate link")
                }
                toDialer += sent(actions)
                acceptorEvents += actions.filter { if case .send = $0 { return false }; return true }
            }
            toAcceptor = []
            for frame in toDialer {
                let wire = try MeshFrame.decode(typeAndBody: Array(frame.encoded()[4...]))
                let actions = dialer.receive(wire)
                toAcceptor += sent(actions)
                dialerEvents += actions.filter { if case .send = $0 { return false }; return true }
            }
            toDialer = []
        }
        return (dialerEvents, acceptorEvents)
    }

    @Test func goodSecretEstablishesBothSides() throws {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor)
        #expect(events.acceptor == [.authenticated(peerId: "a", peerEpoch: 100), .established(peerId: "a", peerEpoch: 100)])
        #expect(events.dialer == [.established(peerId: "b", peerEpoch: 200)])
        #expect(dialer.isEstablished && acceptor.isEstablished)
    }

    @Test func frameSequenceIsAsDocumented() {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        let hello = Self.sent(dialer.start())
        #expect(hello.map(\.type) == [.hello])
        let reply = Self.sent(acceptor.receive(hello[0]))
        #expect(reply.map(\.type) == [.hello, .auth])
        #expect(Self.sent(dialer.receive(reply[0])).map(\.type) == [.auth])
        #expect(dialer.receive(reply[1]).isEmpty)
        // The AUTH carries no secret: it is the HMAC over the transcript.
        if case .auth(let mac) = reply[1] {
            let expected = Handshake.proof(
                secret: Self.secret, senderRole: .acceptor, cluster: "demo", dialerId: "a", dialerEpoch: 100,
                acceptorId: "b", acceptorEpoch: 200, dialerNonce: nonceD, acceptorNonce: nonceA)
            #expect(mac == expected)
            #expect(!mac.contains(subsequence: Self.secret.prefix(8)))
        } else {
            Issue.record("expected AUTH")
        }
    }

    @Test func wrongSecretFailsOnBothSides() throws {
        let wrong = HandshakeIdentity(cluster: "demo", nodeId: "b", epoch: 200, secret: Array("another-secret-entirely".utf8))
        var dialer = makeDialer()
        var acceptor = makeAcceptor(wrong)
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor)
        // Each side checks the other's AUTH independently and refuses it.
        #expect(Self.failure(events.dialer) == "peer's AUTH does not verify (wrong secret?)")
        #expect(Self.failure(events.acceptor) == "peer's AUTH does not verify (wrong secret?)")
        #expect(!dialer.isEstablished && !acceptor.isEstablished)
    }

    @Test func acceptorRejectsDialerWithWrongSecret() {
        var acceptor = makeAcceptor()
        let evil = HandshakeIdentity(cluster: "demo", nodeId: "a", epoch: 100, secret: Array("guess".utf8))
        var dialer = makeDialer(evil)
        let hello = Self.sent(dialer.start())
        let reply = Self.sent(acceptor.receive(hello[0]))
        // A dialer that doesn't care about verification: send our (wrong) AUTH anyway.
        let auth = Self.sent(dialer.receive(reply[0]))
        let verdict = acceptor.receive(auth[0])
        #expect(Self.sent(verdict) == [.reject(reason: "authentication failed")])
        #expect(Self.failure(verdict) == "peer's AUTH does not verify (wrong secret?)")
        #expect(!acceptor.isEstablished)
    }

    @Test func reflectedAuthIsRejected() {
        var acceptor = makeAcceptor()
        var dialer = makeDialer()
        let hello = Self.sent(dialer.start())
        let reply = Self.sent(acceptor.receive(hello[0]))
        // An attacker without the secret bounces the acceptor's own AUTH back at it.
        let verdict = acceptor.receive(reply[1])
        #expect(Self.failure(verdict) == "peer's AUTH does not verify (wrong secret?)")
        #expect(Self.sent(verdict) == [.reject(reason: "authentication failed")])

        // Same the other way: the dialer's AUTH reflected to the dialer.
        var dialer2 = makeDialer()
        var acceptor2 = makeAcceptor()
        let hello2 = Self.sent(dialer2.start())
        let reply2 = Self.sent(acceptor2.receive(hello2[0]))
        let dialerAuth = Self.sent(dialer2.receive(reply2[0]))
        #expect(Self.failure(dialer2.receive(dialerAuth[0])) == "peer's AUTH does not verify (wrong secret?)")
    }

    @Test func reflectedHelloIsRejected() {
        // Our own HELLO bounced back: same id (and nonce).
        var dialer = makeDialer(expect: "a")
        let hello = Self.sent(dialer.start())
        let actions = dialer.receive(hello[0])
        #expect(Self.failure(actions) == "peer claims our own id \"a\"")
    }

    @Test func clusterMismatchIsRejectedWithReason() throws {
        let other = HandshakeIdentity(cluster: "prod", nodeId: "a", epoch: 100, secret: Self.secret)
        var dialer = makeDialer(other)
        var acceptor = makeAcceptor()
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor)
        #expect(Self.failure(events.acceptor) == "peer is in cluster \"prod\", we are in \"demo\"")
        #expect(Self.failure(events.dialer) == #"rejected by peer: "cluster mismatch""#)
    }

    @Test func unknownNodeAndVersionMismatch() {
        var acceptor = makeAcceptor()
        let stranger = MeshHello(cluster: "demo", nodeId: "zz", epoch: 1, nonce: nonceD)
        let actions = acceptor.receive(.hello(stranger))
        #expect(Self.sent(actions) == [.reject(reason: "unknown node id")])
        #expect(Self.failure(actions) == "peer id \"zz\" is not in peers.json")

        var acceptor2 = makeAcceptor()
        let future = MeshHello(protocolVersion: 2, cluster: "demo", nodeId: "a", epoch: 1, nonce: nonceD)
        #expect(Self.sent(acceptor2.receive(.hello(future))) == [.reject(reason: "unsupported protocol version")])

        // Dialer reached someone other than whom it dialed.
        var dialer = makeDialer(expect: "c")
        _ = dialer.start()
        let wrongPeer = MeshHello(cluster: "demo", nodeId: "b", epoch: 1, nonce: nonceA)
        #expect(Self.failure(dialer.receive(.hello(wrongPeer))) == "dialed \"c\" but \"b\" answered")
    }

    @Test func acceptBeforeAuthIsNotTrusted() {
        var dialer = makeDialer()
        _ = dialer.start()
        let reply = MeshHello(cluster: "demo", nodeId: "b", epoch: 200, nonce: nonceA)
        _ = dialer.receive(.hello(reply))
        let actions = dialer.receive(.accept)
        #expect(Self.failure(actions) == "unexpected accept frame during handshake")
        #expect(!dialer.isEstablished)
    }

    @Test func tieBreakRejectionReachesDialer() throws {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor, decide: { _, _ in false })
        #expect(Self.failure(events.dialer) == #"rejected by peer: "duplicate link""#)
        #expect(Self.failure(events.acceptor) == "duplicate link")
    }

    @Test func dataDuringHandshakeIsProtocolError() {
        var acceptor = makeAcceptor()
        let actions = acceptor.receive(.data(MeshData(origin: "a", epoch: 1, seq: 1, payload: [])))
        #expect(Self.sent(actions) == [.reject(reason: "protocol error")])
    }

    @Test func noncesAreRandom() {
        let a = Handshake.randomNonce()
        let b = Handshake.randomNonce()
        #expect(a.count == 32 && b.count == 32 && a != b)
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence: ArraySlice<UInt8>) -> Bool {
        guard subsequence.count <= count else { return false }
        for start in 0...(count - subsequence.count) where self[start..<(start + subsequence.count)] == subsequence {
            return true
        }
        return false
    }
}
