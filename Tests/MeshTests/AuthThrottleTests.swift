import Testing

@testable import Mesh

/// The per-source limit on failed authentications, driven by an injected clock.
@Suite struct AuthThrottleTests {
    let s: UInt64 = 1_000_000_000

    @Test func threeFreeFailuresThenBlocksThatDoubleUpToTheCap() {
        var throttle = AuthThrottle()
        var now: UInt64 = 1000 * s
        #expect(throttle.recordFailure("10.0.0.9", now: now) == 0)
        #expect(throttle.recordFailure("10.0.0.9", now: now) == 0)
        #expect(throttle.check("10.0.0.9", now: now) == .allow)
        #expect(throttle.recordFailure("10.0.0.9", now: now) == 1 * s)
        #expect(throttle.check("10.0.0.9", now: now) == .refuse(untilNanos: now + s))
        #expect(throttle.check("10.0.0.9", now: now + s - 1) == .refuse(untilNanos: now + s))
        #expect(throttle.check("10.0.0.9", now: now + s) == .allow)
        // Other sources are not affected.
        #expect(throttle.check("10.0.0.10", now: now) == .allow)
        var blocks = [UInt64]()
        for _ in 0..<9 {
            now += 61 * s  // each failure once the previous block is over
            #expect(throttle.check("10.0.0.9", now: now) == .allow)
            blocks.append(throttle.recordFailure("10.0.0.9", now: now) / s)
        }
        #expect(blocks == [2, 4, 8, 16, 32, 60, 60, 60, 60])
        #expect(throttle.failures("10.0.0.9") == 12)
    }

    @Test func successClearsTheSource() {
        var throttle = AuthThrottle()
        for _ in 0..<5 { throttle.recordFailure("p", now: 10 * s) }
        #expect(throttle.check("p", now: 10 * s) != .allow)
        throttle.recordSuccess("p")
        #expect(throttle.check("p", now: 10 * s) == .allow)
        #expect(throttle.failures("p") == 0 && throttle.trackedSources == 0)
        // Fresh start: two more failures are free again.
        #expect(throttle.recordFailure("p", now: 11 * s) == 0)
        #expect(throttle.recordFailure("p", now: 11 * s) == 0)
    }

    /// Forgotten after a quiet period counted from the end of its block (not while the block is in force).
    @Test func quietSourceIsForgotten() {
        var throttle = AuthThrottle(policy: .init(maxBlockNanos: 60 * s, forgetAfterNanos: 30 * s))
        let start: UInt64 = 5 * s
        for _ in 0..<9 { throttle.recordFailure("p", now: start) }  // block 60 s (capped)
        #expect(throttle.check("p", now: start + 59 * s) == .refuse(untilNanos: start + 60 * s))
        #expect(throttle.check("p", now: start + 60 * s) == .allow)
        #expect(throttle.failures("p") == 9)
        // Less than the quiet period after the block: still remembered, the next failure blocks at once.
        #expect(throttle.recordFailure("p", now: start + 80 * s) == 60 * s)
        // A quiet period after that block: forgotten, failures free again.
        #expect(throttle.check("p", now: start + 80 * s + 60 * s + 30 * s) == .allow)
        #expect(throttle.trackedSources == 0)
        #expect(throttle.recordFailure("p", now: start + 200 * s) == 0)
    }

    /// Failures spread wider than the quiet period never add up to a block.
    @Test func slowFailuresStayFree() {
        var throttle = AuthThrottle(policy: .init(forgetAfterNanos: 10 * s))
        for k in 0..<20 {
            #expect(throttle.recordFailure("p", now: UInt64(k) * 11 * s + s) == 0)
        }
    }

    /// At most `maxSources` are kept: a flood of addresses evicts the stalest, and blocked ones (whose activity runs
    /// to the end of their block) outlast sources that failed once and went quiet.
    @Test func tableIsBoundedAndEvictsTheStalest() {
        var throttle = AuthThrottle(policy: .init(maxSources: 8))
        for _ in 0..<6 { throttle.recordFailure("blocked", now: 100 * s) }  // blocked until 100 + 8 s
        for k in 0..<50 { throttle.recordFailure("10.1.0.\(k)", now: 100 * s + UInt64(k)) }
        #expect(throttle.trackedSources == 8)
        #expect(throttle.check("blocked", now: 101 * s) == .refuse(untilNanos: 108 * s))
        #expect(throttle.failures("10.1.0.49") == 1)
        #expect(throttle.failures("10.1.0.0") == 0)
    }

    @Test func policyBlockIsSaturating() {
        let policy = AuthThrottle.Policy(freeFailures: 3, baseBlockNanos: s, maxBlockNanos: 60 * s)
        #expect(policy.block(afterFailures: 0) == 0 && policy.block(afterFailures: 2) == 0)
        #expect(policy.block(afterFailures: 3) == s && policy.block(afterFailures: 4) == 2 * s)
        #expect(policy.block(afterFailures: 1000) == 60 * s)
        #expect(AuthThrottle.Policy(baseBlockNanos: .max / 2, maxBlockNanos: .max).block(afterFailures: 10) == .max)
    }

    @Test(arguments: [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::1", "0:0:0:0::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not-an-address:", "not-an-address:"),
    ])
    func sourceKeys(_ host: String, _ key: String) {
        #expect(AuthThrottle.sourceKey(host: host) == key)
    }
}
