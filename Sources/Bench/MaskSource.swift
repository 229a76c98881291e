/// Masking keys for client frames. RFC 6455 wants them unpredictable to the network; for a benchmark on
/// loopback a fast xorshift seeded from the system generator is plenty.
struct MaskSource {
    private var state: UInt64

    init() {
        var g = SystemRandomNumberGenerator()
        state = g.next() | 1
    }

    mutating func next() -> UInt32 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt32(truncatingIfNeeded: state)
    }
}
