import Testing

/// Feeds the same bytes to an incremental parser whole, split in two at every `stride`-th position, and (for inputs up
/// to `byteAtATimeLimit` bytes) one byte at a time, and checks that every way gives the same result. Returns the result
/// of feeding the input whole. `feed` gets the chunks in order and returns what the parser produced.
@discardableResult
func expectSameForEverySplit<R: Equatable>(
    _ input: [UInt8], stride step: Int = 1, byteAtATimeLimit: Int = 200_000,
    sourceLocation: SourceLocation = #_sourceLocation, _ feed: ([[UInt8]]) -> R
) -> R {
    let whole = feed([input])
    for cut in Swift.stride(from: 0, through: input.count, by: max(step, 1)) {
        let split = feed([Array(input[..<cut]), Array(input[cut...])])
        if split != whole {
            Issue.record("split at \(cut) of \(input.count) differs: \(split) vs \(whole)", sourceLocation: sourceLocation)
            break
        }
    }
    if input.count <= byteAtATimeLimit {
        let single = feed(input.map { [$0] })
        #expect(single == whole, "one byte at a time differs", sourceLocation: sourceLocation)
    }
    return whole
}
