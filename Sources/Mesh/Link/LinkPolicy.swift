/// Rules that keep exactly one link per pair of replicas, and the redial schedule.
public enum LinkPolicy {
    /// A link (established or still in handshake) as the tie-break sees it.
    public struct Candidate: Sendable, Equatable {
        /// Id of the node that dialed this link.
        public var dialer: String
        /// The peer's epoch on this link, if its HELLO has been seen.
        public var peerEpoch: UInt64?

        public init(dialer: String, peerEpoch: UInt64?) {
            self.dialer = dialer
            self.peerEpoch = peerEpoch
        }
    }

    /// What to do with a freshly authenticated link when another one to the same peer may exist.
    public enum Decision: Sendable, Equatable {
        /// Keep the new link; if `closeExisting`, close the other one.
        case keepNew(closeExisting: Bool)
        /// Refuse the new link (REJECT + close) and keep the existing one.
        case rejectNew
    }

    /// The tie-break, applied by the acceptor after the dialer authenticated, and by the dialer when
    /// its outbound link completes while it already has an inbound one.
    ///
    /// 1. Epochs differ (both known): the newer life wins. The peer restarted, and the old link is a
    ///    corpse whose failure we haven't noticed yet; or the new link is a stale straggler.
    /// 2. Same dialer: the dialer gave up on the old link (it only dials when it has none), so the new
    ///    one wins.
    /// 3. Otherwise (both sides dialed each other) the link dialed by the lower id wins. Both sides
    ///    compute the same answer, so they keep the same TCP connection. An unknown epoch (handshake
    ///    not far enough) falls through to this rule: comparing it as 0 would make each side drop its
    ///    own dial in favour of the other's, losing both.
    public static func decide(selfId: String, peerId: String, existing: Candidate?, new: Candidate) -> Decision {
        guard let existing else { return .keepNew(closeExisting: false) }
        if let old = existing.peerEpoch, let fresh = new.peerEpoch, old != fresh {
            return fresh > old ? .keepNew(closeExisting: true) : .rejectNew
        }
        if existing.dialer == new.dialer { return .keepNew(closeExisting: true) }
        let lower = min(selfId, peerId)
        return new.dialer == lower ? .keepNew(closeExisting: true) : .rejectNew
    }
}

/// Capped exponential backoff with full jitter: attempt n waits a uniform random time in
/// `0...min(cap, base · 2ⁿ)`. Full jitter spreads the redials of replicas that lost each other at the
/// same moment; the cap keeps a restarted peer from waiting long to be meshed again.
public struct Backoff: Sendable {
    public let baseNanos: UInt64
    public let capNanos: UInt64
    /// Failed attempts since the last success.
    public private(set) var attempt: Int = 0

    /// - Parameters:
    ///   - baseNanos: ceiling of the first delay (default 50 ms).
    ///   - capNanos: largest ceiling (default 1 s).
    public init(baseNanos: UInt64 = 50_000_000, capNanos: UInt64 = 1_000_000_000) {
        self.baseNanos = baseNanos
        self.capNanos = capNanos
    }

    /// The ceiling for the current attempt.
    public var currentCeiling: UInt64 {
        let shift = UInt64(min(attempt, 40))
        let scaled = baseNanos.multipliedReportingOverflow(by: 1 << shift)
        return scaled.overflow ? capNanos : min(capNanos, scaled.partialValue)
    }

    /// How a delay is drawn below the current ceiling.
    public enum Jitter: Sendable, Equatable {
        /// Uniform in `0...ceiling`: the usual redial (spreads replicas that lost each other at once).
        case full
        /// Uniform in `ceiling/2...ceiling`: after a link that came up and died at once, so that the two sides'
        /// dials (each side redials) don't relink at the earlier of two short draws.
        case equal
    }

    /// The delay before the next attempt; advances the attempt counter.
    public mutating func nextDelay<R: RandomNumberGenerator>(jitter: Jitter = .full, using rng: inout R) -> UInt64 {
        let range = advance(jitter)
        return UInt64.random(in: range, using: &rng)
    }

    /// The delay before the next attempt, using the system generator.
    ///
    /// One concrete `next()` scaled into the range (multiply-high: a bias below 2⁻³⁴ for ceilings up to 1 s, nothing
    /// for a jitter), not the generic path above: the system generator is an empty struct, and passing it `inout` to
    /// generic code hands every thread the same placeholder address, which ThreadSanitizer reports as a race.
    public mutating func nextDelay(jitter: Jitter = .full) -> UInt64 {
        let range = advance(jitter)
        var rng = SystemRandomNumberGenerator()
        let word = rng.next()
        let span = range.upperBound - range.lowerBound
        return range.lowerBound + (span == .max ? word : word.multipliedFullWidth(by: span + 1).high)
    }

    /// The range the next delay is drawn from; advances the attempt counter.
    private mutating func advance(_ jitter: Jitter) -> ClosedRange<UInt64> {
        let ceiling = currentCeiling
        attempt += 1
        return (jitter == .equal ? ceiling / 2 : 0)...ceiling
    }

    /// Call once a link has proved stable (the node waits ``MeshOptions/linkStableNanos`` after "link up").
    public mutating func reset() { attempt = 0 }
}
