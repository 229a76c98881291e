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

    /// After a link that died at once: never below half the ceiling, still spread above it.
    @Test func equalJitterKeepsHalfTheCeiling() {
        var rng = SplitMix(seed: 7)
        var backoff = Backoff()
        var delays = [UInt64]()
        for _ in 0..<60 {
            let ceiling = backoff.currentCeiling
            let delay = backoff.nextDelay(jitter: .equal, using: &rng)
            #expect(delay >= ceiling / 2 && delay <= ceiling)
            if ceiling == backoff.capNanos { delays.append(delay) }
        }
        #expect(Set(delays).count > 40)
        #expect(delays.contains { $0 < 750_000_000 } && delays.contains { $0 > 750_000_000 })
    }

    /// The system generator's path draws from the same ranges as the seeded one, spread over them.
    @Test(arguments: [Backoff.Jitter.full, .equal])
    func systemGeneratorStaysInTheRange(_ jitter: Backoff.Jitter) {
        var backoff = Backoff()
        var atCap = [UInt64]()
        for _ in 0..<300 {
            let ceiling = backoff.currentCeiling
            let delay = backoff.nextDelay(jitter: jitter)
            #expect(delay <= ceiling && delay >= (jitter == .equal ? ceiling / 2 : 0))
            if ceiling == backoff.capNanos { atCap.append(delay) }
        }
        #expect(Set(atCap).count > 250)
        let low = jitter == .equal ? UInt64(500_000_000) : 0
        #expect(atCap.contains { $0 < low + 250_000_000 } && atCap.contains { $0 > 750_000_000 })
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
