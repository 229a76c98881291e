/// Heartbeat schedule and liveness verdict for one established link, fed monotonic time in nanoseconds.
///
/// Any received frame counts as a sign of life (a busy link needs no heartbeat to stay up), but
/// heartbeats are *sent* on schedule regardless of data traffic, so the peer's detector never
/// depends on whether we happen to have data for it.
public struct FailureDetector: Sendable {
    /// What the link should do at `now`.
    public struct Verdict: Sendable, Equatable {
        /// Nothing heard for `timeout`: declare the peer down.
        public var down: Bool
        /// Send a HEARTBEAT now.
        public var sendHeartbeat: Bool
    }

    public let heartbeatIntervalNanos: UInt64
    public let timeoutNanos: UInt64
    /// When a frame was last received.
    public private(set) var lastHeardNanos: UInt64
    /// When the next heartbeat is due.
    public private(set) var nextHeartbeatNanos: UInt64
    /// Heartbeats sent so far (LINKS piggybacks on every 10th).
    public private(set) var heartbeatsSent: UInt64 = 0

    /// - Parameters:
    ///   - now: time the link came up (counts as "heard").
    ///   - heartbeatIntervalNanos: default 200 ms.
    ///   - timeoutNanos: silence after which the peer is down; default 1.2 s (six missed heartbeats).
    public init(now: UInt64, heartbeatIntervalNanos: UInt64 = 200_000_000, timeoutNanos: UInt64 = 1_200_000_000) {
        self.heartbeatIntervalNanos = heartbeatIntervalNanos
        self.timeoutNanos = timeoutNanos
        self.lastHeardNanos = now
        self.nextHeartbeatNanos = now
    }

    /// Records that a frame arrived.
    public mutating func received(now: UInt64) {
        if now > lastHeardNanos { lastHeardNanos = now }
    }

    /// True once `timeout` has passed with nothing received. Exactly at the boundary still counts as alive.
    public func isDown(now: UInt64) -> Bool {
        now > lastHeardNanos && now - lastHeardNanos > timeoutNanos
    }

    /// Evaluates the link at `now`; when a heartbeat is due, schedules the next one.
    public mutating func poll(now: UInt64) -> Verdict {
        if isDown(now: now) { return Verdict(down: true, sendHeartbeat: false) }
        guard now >= nextHeartbeatNanos else { return Verdict(down: false, sendHeartbeat: false) }
        // Skip missed slots (a stalled loop) instead of bursting heartbeats to catch up.
        nextHeartbeatNanos = now + heartbeatIntervalNanos
        heartbeatsSent += 1
        return Verdict(down: false, sendHeartbeat: true)
    }

    /// The next time `poll` has something to say (heartbeat due or timeout).
    public var nextDeadlineNanos: UInt64 { min(nextHeartbeatNanos, lastHeardNanos + timeoutNanos + 1) }
}
