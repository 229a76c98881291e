/// A fixed-size histogram of short durations: 250 ns buckets up to 128 µs, then one bucket per doubling up to
/// ~4.3 s. Recording is a few instructions and no allocation, so a loop can time every turn.
public struct TurnHistogram: Sendable {
    static let fineBucketNanos: UInt64 = 250
    static let fineBuckets = 512  // up to 128 µs
    static let coarseBuckets = 16  // 128 µs · 2^k, up to ~4.3 s

    private var counts = [UInt64](repeating: 0, count: fineBuckets + coarseBuckets + 1)
    public private(set) var count: UInt64 = 0
    public private(set) var maxNanos: UInt64 = 0
    /// All samples added up (wraps after ~584 years of recorded time).
    public private(set) var sumNanos: UInt64 = 0

    public init() {}

    public mutating func record(_ nanos: UInt64) {
        counts[Self.bucket(nanos)] &+= 1
        count &+= 1
        sumNanos &+= nanos
        if nanos > maxNanos { maxNanos = nanos }
    }

    static func bucket(_ nanos: UInt64) -> Int {
        let fine = nanos / fineBucketNanos
        if fine < UInt64(fineBuckets) { return Int(fine) }
        // 128 µs ≤ nanos: bucket by powers of two above 128 µs.
        let ratio = nanos / (UInt64(fineBuckets) * fineBucketNanos)
        let doubling = 63 - ratio.leadingZeroBitCount  // 0 for [128 µs, 256 µs)
        return fineBuckets + min(doubling, coarseBuckets)
    }

    /// Upper bound of bucket `index`, in nanoseconds.
    static func upperBound(_ index: Int) -> UInt64 {
        if index < fineBuckets { return UInt64(index + 1) * fineBucketNanos }
        return UInt64(fineBuckets) * fineBucketNanos << UInt64(index - fineBuckets + 1)
    }

    /// The smallest bucket bound at or under which a share `q` (0…1) of the samples fall; 0 when empty.
    /// Exact to 250 ns below 128 µs, to a factor of two above; never more than the largest sample.
    public func percentileNanos(_ q: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = max(1, UInt64((q * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, c) in counts.enumerated() {
            seen += c
            // The last bucket is open-ended: its bound is the largest sample.
            if seen >= rank { return index == counts.count - 1 ? maxNanos : min(Self.upperBound(index), maxNanos) }
        }
        return maxNanos
    }

    /// The samples known to be under `boundNanos`: those of every bucket that ends at or before it (a Prometheus
    /// histogram's cumulative `le` count). Exact when `boundNanos` is a bucket bound (``isBucketBound(_:)``): a
    /// multiple of 250 ns up to 128 µs, or 128 µs · 2^k up to ~8.4 s. The open-ended last bucket counts only
    /// toward `UInt64.max`.
    public func cumulativeCount(belowNanos boundNanos: UInt64) -> UInt64 {
        if boundNanos == .max { return count }
        var total: UInt64 = 0
        for index in 0..<(counts.count - 1) where Self.upperBound(index) <= boundNanos { total &+= counts[index] }
        return total
    }

    /// Whether some bucket ends exactly at `nanos` (so ``cumulativeCount(belowNanos:)`` is exact there).
    public static func isBucketBound(_ nanos: UInt64) -> Bool {
        (0..<(fineBuckets + coarseBuckets)).contains { upperBound($0) == nanos }
    }
}
