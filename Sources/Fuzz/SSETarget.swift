@testable import SignalRMesh

/// `sse`: the Server-Sent Events framing of the SSE transport (``ServerSentEvents/event(_:)``), read back the way
/// a browser's `EventSource` reads a stream (lines end with CRLF, LF or a lone CR; `data:` fields joined with LF;
/// a blank line dispatches the event).
///
/// Checks, for any payload:
/// - the bytes are exactly one event: only `data: …` lines, then one blank line at the end, so no payload can end
///   an event early, start a second one or smuggle in another field (`event:`, `id:`, `retry:`);
/// - the data read back is the payload with its line ends (LF, CRLF, lone CR: what `EventSource` takes for one)
///   written as LF, a final line end dropped. (The hub protocols write no line ends at all: JSON escapes control
///   characters, and MessagePack is refused on SSE.)
enum SSETarget {
    static func run(_ input: FuzzInput) {
        let payload = input.payload
        let event = payload.withUnsafeBytes { ServerSentEvents.event($0) }
        let lines = eventSourceLines(event)
        guard let blank = lines.firstIndex(where: { $0.isEmpty }) else { fuzzFailure("no blank line ends the event") }
        check(blank == lines.count - 1, "a blank line inside the event (it would end early)")
        var data: [[UInt8]] = []
        for line in lines.dropLast() {
            guard line.starts(with: Array("data: ".utf8)) else { fuzzFailure("a line that isn't a data field") }
            data.append(Array(line.dropFirst(6)))
        }
        let joined = Array(data.joined(separator: [0x0A]))
        check(joined == expectedData(payload), "the data read back differs from the payload")
    }

    /// The payload as `EventSource` should see it: its lines (ended by LF, CRLF or a lone CR) joined with LF, a
    /// final line end ending the last line rather than starting an empty one.
    static func expectedData(_ payload: [UInt8]) -> [UInt8] {
        var lines = eventSourceLines(payload)
        if lines.isEmpty { lines = [[]] }
        return Array(lines.joined(separator: [0x0A]))
    }

    /// Splits a stream into lines as `EventSource` does: CRLF, LF, or a lone CR end a line.
    static func eventSourceLines(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x0D {
                lines.append(current)
                current = []
                if i + 1 < bytes.count && bytes[i + 1] == 0x0A { i += 1 }
            } else if b == 0x0A {
                lines.append(current)
                current = []
            } else {
                current.append(b)
            }
            i += 1
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}
