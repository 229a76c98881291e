import Testing

@testable import NetKit

@Suite struct TurnHistogramTests {
    @Test func emptyHasNoPercentiles() {
        let h = TurnHistogram()
        #expect(h.count == 0)
        #expect(h.percentileNanos(0.5) == 0)
        #expect(h.maxNanos == 0)
    }

    @Test func fineBucketsAre250Nanoseconds() {
        #expect(TurnHistogram.bucket(0) == 0)
        #expect(TurnHistogram.bucket(249) == 0)
        #expect(TurnHistogram.bucket(250) == 1)
        #expect(TurnHistogram.bucket(127_999) == 511)
        #expect(TurnHistogram.upperBound(0) == 250)
        #expect(TurnHistogram.upperBound(511) == 128_000)
    }

    @Test func coarseBucketsDoubleAbove128Microseconds() {
        #expect(TurnHistogram.bucket(128_000) == 512)
        #expect(TurnHistogram.bucket(255_999) == 512)
        #expect(TurnHistogram.bucket(256_000) == 513)
        #expect(TurnHistogram.upperBound(512) == 256_000)
        #expect(TurnHistogram.upperBound(513) == 512_000)
        // Everything past the last doubling lands in the last bucket instead of out of range.
        #expect(TurnHistogram.bucket(.max) == 512 + 16)
        var h = TurnHistogram()
        h.record(.max)
        #expect(h.percentileNanos(1) == .max)
    }

    @Test func percentilesFollowTheSamples() {
        var h = TurnHistogram()
        // 1 µs … 100 µs, one sample each.
        for micros in 1...100 { h.record(UInt64(micros) * 1000) }
        #expect(h.count == 100)
        #expect(h.percentileNanos(0.5) == 50_250)  // the 50th sample, 50 µs, sits in [50, 50.25) µs
        #expect(h.percentileNanos(0.99) == 99_250)
        #expect(h.percentileNanos(1) == 100_000)  // capped by the largest sample, not the bucket bound
        #expect(h.maxNanos == 100_000)
    }

    @Test func slowOutliersMoveOnlyTheTail() {
        var h = TurnHistogram()
        for _ in 0..<990 { h.record(3_000) }
        for _ in 0..<10 { h.record(900_000) }
        #expect(h.percentileNanos(0.5) == 3_250)
        #expect(h.percentileNanos(0.99) == 3_250)
        #expect(h.percentileNanos(0.995) == 900_000)
    }
}

/// What a Prometheus histogram needs of ``TurnHistogram``: a sum, and exact cumulative counts at bucket bounds.
@Suite struct TurnHistogramPrometheusTests {
    @Test func sumAddsEverySample() {
        var h = TurnHistogram()
        for nanos: UInt64 in [100, 2_000, 300_000, 5_000_000_000] { h.record(nanos) }
        #expect(h.sumNanos == 5_000_302_100)
        #expect(h.count == 4)
    }

    @Test func cumulativeCountsAreExactAtBucketBounds() {
        var h = TurnHistogram()
        // 999 ns and 1000 ns straddle the 1 µs bound: a sample on a bound counts in the bucket above it.
        for nanos: UInt64 in [0, 249, 250, 999, 1_000, 127_999, 128_000, 255_999, 256_000, 9_000_000_000] { h.record(nanos) }
        #expect(h.cumulativeCount(belowNanos: 250) == 2)
        #expect(h.cumulativeCount(belowNanos: 1_000) == 4)
        #expect(h.cumulativeCount(belowNanos: 128_000) == 6)
        #expect(h.cumulativeCount(belowNanos: 256_000) == 8)
        #expect(h.cumulativeCount(belowNanos: 8_388_608_000) == 9)  // the last bounded bucket
        // The open-ended last bucket (≥ 8.39 s) counts only toward +Inf.
        #expect(h.cumulativeCount(belowNanos: UInt64.max - 1) == 9)
        #expect(h.cumulativeCount(belowNanos: .max) == 10)
        #expect(h.cumulativeCount(belowNanos: 0) == 0)
    }

    @Test func bucketBounds() {
        for bound: UInt64 in [250, 1_000, 2_500, 100_000, 128_000, 256_000, 1_024_000, 8_388_608_000] {
            #expect(TurnHistogram.isBucketBound(bound), "\(bound)")
        }
        for bound: UInt64 in [0, 1, 251, 200_000, 1_000_000, 16_777_216_000] {
            #expect(!TurnHistogram.isBucketBound(bound), "\(bound)")
        }
    }
}
