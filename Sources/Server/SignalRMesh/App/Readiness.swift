/// Whether a replica should be sent traffic (`GET /readyz`): a value fed the time and the mesh's progress, no I/O.
///
/// `starting` (not listening yet) → `syncing` (HTTP listens) → `ready` (first mesh sync done) → `draining` (asked
/// to stop; from any phase, for good). Ready is a latch: once the first sync is done, peers that come and go later
/// don't change it (a replica serves its own clients whatever the others do); only draining ends it.
///
/// The first mesh sync is done when every other replica of the peers file is settled, or once ``syncTimeoutNanos``
/// passed since listening, whatever the peers do. A replica is settled when we hold its interest snapshot (its
/// groups and users: it linked, directly or through a relay, and answered our request), or when it can't be reached
/// and at least one of our dials to it failed (connect refused or timed out, or the handshake failed). So a replica
/// whose peers are all down is ready after one failed dial each (milliseconds on a refused port, the 1 s connect
/// timeout on a silent address), and one whose peers are up is ready once it can route group and user messages to
/// them.
struct Readiness: Equatable, Sendable {
    enum Phase: Equatable, Sendable {
        case starting
        /// Listening since `sinceNanos`, first sync not done.
        case syncing(sinceNanos: UInt64)
        case ready
        case draining
    }

    /// Where the first sync stands with one other replica.
    enum PeerProgress: Equatable, Sendable {
        /// We hold its interest snapshot.
        case synced
        /// Unreachable, and our dial to it failed at least once.
        case failed
        /// Neither yet.
        case pending
    }

    /// How the first sync ended.
    enum Outcome: Equatable, Sendable {
        /// Every other replica settled.
        case settled
        /// The bound passed with these replicas still pending.
        case timedOut(pending: [String])
    }

    let syncTimeoutNanos: UInt64
    private(set) var phase: Phase = .starting
    /// The replicas still pending at the last ``update(now:peers:)`` (for the 503 text).
    private(set) var pending: [String] = []

    init(syncTimeoutNanos: UInt64) {
        self.syncTimeoutNanos = syncTimeoutNanos
    }

    var isReady: Bool { phase == .ready }
    var isDraining: Bool { phase == .draining }

    /// HTTP listens from `now` on.
    mutating func listening(now: UInt64) {
        guard phase == .starting else { return }
        phase = .syncing(sinceNanos: now)
    }

    /// Looks at the other replicas' progress; returns how the first sync ended if it ended with this call.
    @discardableResult
    mutating func update(now: UInt64, peers: [(id: String, progress: PeerProgress)]) -> Outcome? {
        guard case .syncing(let since) = phase else { return nil }
        pending = peers.filter { $0.progress == .pending }.map(\.id)
        if pending.isEmpty {
            phase = .ready
            return .settled
        }
        if now >= since, now - since >= syncTimeoutNanos {
            phase = .ready
            return .timedOut(pending: pending)
        }
        return nil
    }

    /// Stop sending traffic here: from now on, for good.
    mutating func drain() {
        phase = .draining
    }

    /// The `/readyz` body: `ready`, or a short reason why not.
    func text(now: UInt64) -> String {
        switch phase {
        case .starting:
            return "starting: not listening yet"
        case .syncing(let since):
            let waited = Double(now >= since ? now - since : 0) / 1e9
            let names = pending.isEmpty ? "the other replicas" : pending.joined(separator: ", ")
            return "starting: first mesh sync, waiting for \(names) (\(Self.seconds(waited)) of at most "
                + "\(Self.seconds(Double(syncTimeoutNanos) / 1e9)))"
        case .ready:
            return "ready"
        case .draining:
            return "draining: shutting down"
        }
    }

    /// "1.2 s"
    static func seconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) s"
    }
}
