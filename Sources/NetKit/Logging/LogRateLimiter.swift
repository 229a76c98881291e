/// Lets through at most `burst` log lines per key, then one more every `interval`, and counts what it held back,
/// so a peer or client that repeats a failure thousands of times a second costs a few lines, not a full disk.
///
/// A value confined to one thread (an event loop); time is passed in (monotonic nanoseconds), so tests drive it.
/// At most `maxKeys` keys are tracked: past that the stalest key is forgotten (it may then log once more).
public struct LogRateLimiter: Sendable {
    public struct Verdict: Sendable, Equatable {
        /// Log this line.
        public var allowed: Bool
        /// Lines of this key held back since the last one allowed (say so in the allowed line).
        public var suppressed: Int
    }

    private struct Bucket: Sendable {
        var tokens: Double
        var updated: UInt64
        var suppressed: Int
    }

    public let burst: Int
    public let intervalNanos: UInt64
    public let maxKeys: Int
    private var buckets: [String: Bucket] = [:]

    /// - Parameters:
    ///   - burst: lines allowed at once for a key that has been quiet.
    ///   - intervalNanos: one more line per this much time (default 10 s).
    ///   - maxKeys: keys remembered at most.
    public init(burst: Int = 5, intervalNanos: UInt64 = 10_000_000_000, maxKeys: Int = 1024) {
        precondition(burst >= 1 && intervalNanos > 0 && maxKeys >= 1)
        self.burst = burst
        self.intervalNanos = intervalNanos
        self.maxKeys = maxKeys
    }

    /// Whether a line of `key` may be logged at `now`.
    public mutating func admit(_ key: String, now: UInt64) -> Verdict {
        var bucket = buckets[key] ?? Bucket(tokens: Double(burst), updated: now, suppressed: 0)
        if now > bucket.updated {
            let refill = Double(now - bucket.updated) / Double(intervalNanos)
            bucket.tokens = min(Double(burst), bucket.tokens + refill)
            bucket.updated = now
        }
        let verdict: Verdict
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            verdict = Verdict(allowed: true, suppressed: bucket.suppressed)
            bucket.suppressed = 0
        } else {
            bucket.suppressed += 1
            verdict = Verdict(allowed: false, suppressed: bucket.suppressed)
        }
        if buckets[key] == nil && buckets.count >= maxKeys, let stalest = buckets.min(by: { $0.value.updated < $1.value.updated }) {
            buckets.removeValue(forKey: stalest.key)
        }
        buckets[key] = bucket
        return verdict
    }

    /// Keys currently tracked (tests).
    public var trackedKeys: Int { buckets.count }
}
