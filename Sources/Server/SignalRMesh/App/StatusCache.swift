/// Keeps the last rendered `/api/mesh` body for up to `maxAgeNanos`, so however often it is asked for, the
/// snapshot (whose cost grows with unacknowledged log entries × peers) is taken and rendered at most once per
/// interval; a request in between costs only a copy of the bytes (O(peers)). A value fed the time (no clock).
struct StatusCache {
    let maxAgeNanos: UInt64
    private var body: [UInt8]?
    private var builtAt: UInt64 = 0
    /// How many times `build` ran (tests, and the cost bound: at most once per interval).
    private(set) var builds = 0

    init(maxAgeNanos: UInt64) {
        self.maxAgeNanos = maxAgeNanos
    }

    /// The cached body if it was built less than `maxAgeNanos` before `now`, else a fresh one from `build`.
    mutating func body(now: UInt64, build: () -> [UInt8]) -> [UInt8] {
        if let body, now >= builtAt, now - builtAt < maxAgeNanos { return body }
        let fresh = build()
        body = fresh
        builtAt = now
        builds += 1
        return fresh
    }

    /// Forgets the cached body (the next request builds a fresh one).
    mutating func invalidate() { body = nil }
}
