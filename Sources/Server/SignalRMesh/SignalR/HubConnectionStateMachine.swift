/// The timing rules of one SignalR connection, as a value fed time and events (no sockets, no clock):
/// the handshake deadline, the keep-alive Ping after `keepAlive` of silence from the server, and the client
/// timeout after `client` of silence from the client. The connection calls ``tick(now:)`` on its heartbeat and
/// performs the action returned.
struct HubConnectionStateMachine: Equatable {
    struct Timeouts: Equatable {
        var handshakeNanos: UInt64
        var keepAliveNanos: UInt64
        var clientNanos: UInt64

        init(handshake: Double, keepAlive: Double, client: Double) {
            handshakeNanos = UInt64(handshake * 1e9)
            keepAliveNanos = UInt64(keepAlive * 1e9)
            clientNanos = UInt64(client * 1e9)
        }
    }

    enum Phase: Equatable { case handshake, active, closed }

    enum TickAction: Equatable {
        case none
        /// Nothing was sent for the keep-alive interval: send a Ping (already counted as sent).
        case sendPing
        /// No valid handshake within the deadline: answer "Handshake was canceled." and close.
        case handshakeTimedOut
        /// Nothing received for the client timeout: close with allowReconnect.
        case clientTimedOut
    }

    let timeouts: Timeouts
    private(set) var phase: Phase = .handshake
    private(set) var startedAt: UInt64
    private(set) var lastReceived: UInt64
    private(set) var lastSent: UInt64

    init(timeouts: Timeouts, now: UInt64) {
        self.timeouts = timeouts
        startedAt = now
        lastReceived = now
        lastSent = now
    }

    /// Any bytes from the client count as a sign of life (ASP.NET Core resets on every read).
    mutating func received(now: UInt64) { lastReceived = max(lastReceived, now) }

    mutating func sent(now: UInt64) { lastSent = max(lastSent, now) }

    /// The handshake succeeded; returns false if it came too late or the connection is no longer in handshake.
    mutating func handshakeCompleted(now: UInt64) -> Bool {
        guard phase == .handshake, now &- startedAt < timeouts.handshakeNanos else { return false }
        phase = .active
        lastReceived = now
        return true
    }

    mutating func closed() { phase = .closed }

    /// The earliest time at which ``tick(now:)`` can return an action, from the state as it is now (`UInt64.max`:
    /// never). Later sends and receipts only move it later, so a caller that ticks at this time and then asks again
    /// misses nothing.
    var nextDeadline: UInt64 {
        switch phase {
        case .handshake:
            return Self.sum(startedAt, timeouts.handshakeNanos)
        case .active:
            return min(Self.sum(lastReceived, timeouts.clientNanos), Self.sum(lastSent, timeouts.keepAliveNanos))
        case .closed:
            return .max
        }
    }

    /// `a + b`, or `UInt64.max` if that overflows (a timeout of "forever").
    static func sum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : s
    }

    mutating func tick(now: UInt64) -> TickAction {
        switch phase {
        case .handshake:
            if now &- startedAt >= timeouts.handshakeNanos {
                phase = .closed
                return .handshakeTimedOut
            }
            return .none
        case .active:
            if now &- lastReceived >= timeouts.clientNanos {
                phase = .closed
                return .clientTimedOut
            }
            if now &- lastSent >= timeouts.keepAliveNanos {
                lastSent = now
                return .sendPing
            }
            return .none
        case .closed:
            return .none
        }
    }
}
