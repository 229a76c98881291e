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
