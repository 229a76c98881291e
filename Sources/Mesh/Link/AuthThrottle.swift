import Glibc

/// Limits online guessing of the mesh secret: per source (a remote address, or a peer we dial), failed
/// authentications past a few free ones block that source for a time that doubles with each further failure.
///
/// Every handshake gives whoever is on the other end exactly one guess at the secret (see ``Handshake``), and costs
/// the acceptor a hash-to-curve and two X25519 multiplications. Without a limit, guesses come as fast as
/// connections do. With the defaults a source gets 3 failures free, is then refused for 1 s, and after each further
/// failure for twice as long as before, up to 60 s: about one guess a minute once it is blocked. A source quiet for
/// ``Policy/forgetAfterNanos`` (no failure, no block in force) is forgotten; a successful authentication clears it
/// at once, so a peer that failed while misconfigured links as soon as its block ends.
///
/// A value confined to one thread (the node's loop); time is passed in (monotonic nanoseconds), so tests drive it.
/// At most ``Policy/maxSources`` sources are tracked: past that the stalest one is forgotten.
public struct AuthThrottle: Sendable {
    /// The limits (``MeshOptions/authThrottle``).
    public struct Policy: Sendable, Equatable {
        /// Failures a source may have before it is blocked (default 3: the third failure starts the first block).
        public var freeFailures: Int
        /// The first block (default 1 s); each further failure doubles it…
        public var baseBlockNanos: UInt64
        /// …up to this (default 60 s).
        public var maxBlockNanos: UInt64
        /// A source with no failure for this long after its last block ended is forgotten (default 10 min).
        public var forgetAfterNanos: UInt64
        /// Sources remembered at most (default 4096); past that the stalest is dropped.
        public var maxSources: Int

        public init(
            freeFailures: Int = 3, baseBlockNanos: UInt64 = 1_000_000_000, maxBlockNanos: UInt64 = 60_000_000_000,
            forgetAfterNanos: UInt64 = 600_000_000_000, maxSources: Int = 4096
        ) {
            self.freeFailures = freeFailures
            self.baseBlockNanos = baseBlockNanos
            self.maxBlockNanos = maxBlockNanos
            self.forgetAfterNanos = forgetAfterNanos
            self.maxSources = maxSources
        }

        /// The block that follows failure number `failures` (0 while still free).
        public func block(afterFailures failures: Int) -> UInt64 {
            let threshold = max(1, freeFailures)
            guard failures >= threshold else { return 0 }
            let doublings = UInt64(min(failures - threshold, 62))
            let scaled = baseBlockNanos.multipliedReportingOverflow(by: 1 << doublings)
            return scaled.overflow ? maxBlockNanos : min(maxBlockNanos, scaled.partialValue)
        }
    }

    /// What to do with a new handshake from a source.
    public enum Verdict: Sendable, Equatable {
        case allow
        /// Refuse it before any work; the block ends at `untilNanos`.
        case refuse(untilNanos: UInt64)
    }

    private struct Entry: Sendable {
        var failures: Int
        /// Last failure, or the end of the block in force, whichever is later: the entry is stale from here.
        var lastActivity: UInt64
        var blockedUntil: UInt64
    }

    public let policy: Policy
    private var entries: [String: Entry] = [:]

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Whether a new handshake from `source` may go ahead at `now`.
    public mutating func check(_ source: String, now: UInt64) -> Verdict {
        guard let entry = entries[source] else { return .allow }
        if isStale(entry, now: now) {
            entries[source] = nil
            return .allow
        }
        return now < entry.blockedUntil ? .refuse(untilNanos: entry.blockedUntil) : .allow
    }

    /// Counts a failed authentication from `source`; returns how long it is now blocked for (0: not blocked).
    @discardableResult
    public mutating func recordFailure(_ source: String, now: UInt64) -> UInt64 {
        var entry = entries[source] ?? Entry(failures: 0, lastActivity: now, blockedUntil: 0)
        if isStale(entry, now: now) { entry = Entry(failures: 0, lastActivity: now, blockedUntil: 0) }
        entry.failures += 1
        let block = policy.block(afterFailures: entry.failures)
        if block > 0 {
            // A failure can only start while no block is in force (blocked sources are refused), but a handshake
            // already under way when the block began may still fail: never shorten a block.
            entry.blockedUntil = max(entry.blockedUntil, now &+ block)
        }
        entry.lastActivity = max(now, entry.blockedUntil)
        if entries[source] == nil && entries.count >= max(1, policy.maxSources) { evictStalest() }
        entries[source] = entry
        return block
    }

    /// A source proved it knows the secret: forget its failures.
    public mutating func recordSuccess(_ source: String) {
        entries[source] = nil
    }

    /// Failures counted for `source` (tests, logs).
    public func failures(_ source: String) -> Int { entries[source]?.failures ?? 0 }

    /// Sources currently tracked.
    public var trackedSources: Int { entries.count }

    private func isStale(_ entry: Entry, now: UInt64) -> Bool {
        now > entry.lastActivity && now - entry.lastActivity >= policy.forgetAfterNanos
    }

    private mutating func evictStalest() {
        guard let stalest = entries.min(by: { $0.value.lastActivity < $1.value.lastActivity }) else { return }
        entries.removeValue(forKey: stalest.key)
    }
}

extension AuthThrottle {
    /// The key of an inbound connection's source: its IPv4 address, or the /64 prefix of an IPv6 one (a single
    /// host usually holds a whole /64, so counting its addresses one by one would give it 2⁶⁴ fresh starts).
    /// IPv4-mapped IPv6 addresses count as their IPv4 address.
    public static func sourceKey(host: String) -> String {
        guard host.contains(":") else { return host }
        var bytes = [UInt8](repeating: 0, count: 16)
        let parsed = host.withCString { text in bytes.withUnsafeMutableBytes { inet_pton(AF_INET6, text, $0.baseAddress) } }
        guard parsed == 1 else { return host }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return bytes[12..<16].map { String($0) }.joined(separator: ".")
        }
        var key = ""
        for index in stride(from: 0, to: 8, by: 2) {
            let word = UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
            key += String(word, radix: 16) + ":"
        }
        return key + ":/64"
    }
}
