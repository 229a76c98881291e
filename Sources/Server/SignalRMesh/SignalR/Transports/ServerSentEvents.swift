/// Server-Sent Events framing (TransportProtocols.md; signalr-protocol.md 1.5): one transport write is one event;
/// every line of the payload (split on LF, a trailing CR dropped) becomes `data: <line>\r\n`, and `\r\n` ends the
/// event. JSON hub messages keep their 0x1E inside the data.
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
            var end = start
            while end < n && payload[end] != 0x0A { end += 1 }
            var lineEnd = end
            if lineEnd > start && payload[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            out.append(contentsOf: data)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[start..<lineEnd]))
            out.append(0x0D)
            out.append(0x0A)
            if end >= n { break }
            start = end + 1
            if start == n { break }
        }
        out.append(0x0D)
        out.append(0x0A)
    }
}
