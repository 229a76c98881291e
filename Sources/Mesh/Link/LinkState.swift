/// Where one link (``PeerLink``) is in its life: the one place that says whether it may carry frames.
///
/// ```
/// handshaking ──▶ established ──▶ closed
///      └──────────────────────────▲
/// ```
/// A closed link never comes back: a redial is a new link. What outlives a link (backoff, counters, whether the
/// peer is up) is kept per peer by the node.
enum LinkState {
    /// Authenticating (HELLO, SHARE, CONFIRM, ACCEPT/REJECT), to be done by `deadline` (monotonic ns) or dropped.
    case handshaking(deadline: UInt64)
    /// Authenticated: frames flow both ways, watched by the failure detector.
    case established(Established)
    /// Closed, or closing (a REJECT or LEAVING may still be flushing): nothing more is sent or read. `byUs`: we retired
    /// it on purpose (tie-break loser, failed handshake, shutdown), so the socket's close is not a link failure.
    /// `stable`: it had proved itself while established (``Established/stable``).
    case closed(byUs: Bool, stable: Bool)

    /// What an established link knows of its own health.
    struct Established {
        /// Heartbeat schedule and silence timeout.
        var detector: FailureDetector
        /// When it was established (monotonic ns).
        let since: UInt64
        /// The peer answered one of our heartbeats on this link: both directions work.
        var heartbeatAnswered = false
        /// Up long enough (``MeshOptions/linkStableNanos``) with a heartbeat answered: the redial backoff started over.
        var stable = false

        init(detector: FailureDetector, since: UInt64) {
            self.detector = detector
            self.since = since
        }
    }

    var isEstablished: Bool {
        if case .established = self { return true }
        return false
    }

    var isClosed: Bool {
        if case .closed = self { return true }
        return false
    }

    /// Closed by us (see ``closed(byUs:stable:)``).
    var isRetired: Bool {
        if case .closed(byUs: true, _) = self { return true }
        return false
    }

    /// Proved stable while established (also once closed).
    var isStable: Bool {
        switch self {
        case .handshaking: return false
        case .established(let up): return up.stable
        case .closed(_, let stable): return stable
        }
    }

    /// The handshake deadline (nil once the handshake is over).
    var handshakeDeadline: UInt64? {
        if case .handshaking(let deadline) = self { return deadline }
        return nil
    }

    /// Moves to closed; a link already closed keeps how it was (one we retired stays retired when its socket's close
    /// callback arrives).
    mutating func close(byUs: Bool) {
        guard !isClosed else { return }
        self = .closed(byUs: byUs, stable: isStable)
    }

    /// Changes the established state in place; nothing when not established.
    mutating func updateEstablished(_ body: (inout Established) -> Void) {
        guard case .established(var up) = self else { return }
        body(&up)
        self = .established(up)
    }
}
