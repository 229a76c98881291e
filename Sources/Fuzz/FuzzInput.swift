/// One libFuzzer input, cut into the harness's steering bytes and the payload the parser under test sees.
///
/// Layout: `[flags][cut hi][cut lo][payload…]`.
/// - `flags`: the low nibble holds per-target switches (``flag(_:)``), the high nibble the piece size of the
///   many-pieces feed (1…16 bytes).
/// - `cut`: where the two-piece feed splits the payload (taken modulo `payload.count + 1`).
///
/// Inputs shorter than the 3 steering bytes are skipped. The seed files in `Tests/fuzz/corpus` carry the same
/// prefix (`Tests/fuzz/make_seeds.py` writes them).
struct FuzzInput {
    let flags: UInt8
    let cut: Int
    let pieceSize: Int
    let payload: [UInt8]

    static let headerCount = 3

    init?(_ data: UnsafePointer<UInt8>, _ size: Int) {
        guard size >= Self.headerCount else { return nil }
        flags = data[0]
        payload = Array(UnsafeBufferPointer(start: data + Self.headerCount, count: size - Self.headerCount))
        cut = (Int(data[1]) << 8 | Int(data[2])) % (payload.count + 1)
        pieceSize = Int(flags >> 4) + 1
    }

    /// The same steering (flags, cut, piece size) over another payload, e.g. bytes a target derived from the input.
    init(reshaping other: FuzzInput, payload: [UInt8]) {
        flags = other.flags
        self.payload = payload
        cut = payload.isEmpty ? 0 : other.cut % (payload.count + 1)
        pieceSize = other.pieceSize
    }

    /// Per-target switch `bit` (0…3) of the flags byte.
    func flag(_ bit: Int) -> Bool { flags & (1 << UInt8(bit)) != 0 }

    /// The three ways every incremental parser is fed: whole, in two pieces at `cut`, and in `pieceSize` pieces.
    var feeds: [(name: String, chunks: [[UInt8]])] {
        var pieces: [[UInt8]] = []
        var start = 0
        while start < payload.count {
            let end = min(start + pieceSize, payload.count)
            pieces.append(Array(payload[start..<end]))
            start = end
        }
        return [
            ("whole", [payload]),
            ("split at \(cut)", [Array(payload[..<cut]), Array(payload[cut...])]),
            ("\(pieceSize)-byte pieces", pieces),
        ]
    }
}

/// Runs `drive` once per feed of `input` and traps (so libFuzzer saves the input) unless every feed gives the same
/// transcript. Returns the transcript of the whole-input feed.
@discardableResult
func expectSameForEveryFeed<T: Equatable>(_ input: FuzzInput, _ drive: ([[UInt8]]) -> T) -> T {
    let feeds = input.feeds
    let whole = drive(feeds[0].chunks)
    for feed in feeds.dropFirst() {
        let other = drive(feed.chunks)
        if other != whole {
            fuzzFailure("feeding \(feed.name) differs from feeding the input whole:\n  whole: \(whole)\n  \(feed.name): \(other)")
        }
    }
    return whole
}

/// Reports a broken invariant: traps with the reason, which libFuzzer reports as a crash with the input saved.
func fuzzFailure(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("FUZZ INVARIANT BROKEN: \(message)", file: file, line: line)
}

/// `fuzzFailure` unless `condition` holds.
@inline(__always)
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fuzzFailure(message(), file: file, line: line) }
}
