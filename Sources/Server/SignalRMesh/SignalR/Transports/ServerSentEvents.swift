/// Server-Sent Events framing (TransportProtocols.md; signalr-protocol.md 1.5): one transport write is one event;
/// every line of the payload (ended by LF, CRLF or a lone CR, as `EventSource` reads lines) becomes
/// `data: <line>\r\n`, and `\r\n` ends the event. JSON hub messages keep their 0x1E inside the data.
enum ServerSentEvents {
    /// The first bytes of the stream, an SSE comment (works around a Firefox `open` bug, as ASP.NET Core does).
    static let preamble: [UInt8] = Array(":\r\n".utf8)

    static func event(_ payload: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 10)
        append(payload, to: &out)
        return out
    }

    static func append(_ payload: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let data: [UInt8] = Array("data: ".utf8)
        var start = 0
        let n = payload.count
        while true {
            // A line ends at LF, CRLF, or a lone CR: EventSource ends lines at all three, so a lone CR left inside a
            // data line would end it there and could even end the event (the hub protocols never write one).
            var end = start
            while end < n && payload[end] != 0x0A && payload[end] != 0x0D { end += 1 }
            out.append(contentsOf: data)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[start..<end]))
            out.append(0x0D)
            out.append(0x0A)
            if end >= n { break }
            start = end + (payload[end] == 0x0D && end + 1 < n && payload[end + 1] == 0x0A ? 2 : 1)
            if start == n { break }
        }
        out.append(0x0D)
        out.append(0x0A)
    }
}
