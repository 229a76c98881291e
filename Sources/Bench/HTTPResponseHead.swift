import Glibc

/// The head of an HTTP/1.1 response: status and headers, parsed once the blank line is in.
struct HTTPResponseHead {
    var status: Int
    /// Header names lowercased; the first value of each.
    var headers: [String: String]
    /// Bytes of the head including the blank line.
    var length: Int

    /// Parses the head at the start of `bytes`; nil while `\r\n\r\n` hasn't arrived.
    static func parse(_ bytes: [UInt8]) throws(WireError) -> HTTPResponseHead? {
        guard let end = find([13, 10, 13, 10], in: bytes) else {
            if bytes.count > 64 << 10 { throw WireError("response head over 64 KiB") }
            return nil
        }
        let text = String(decoding: bytes[0..<end], as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { throw WireError("empty response") }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw WireError("bad status line '\(statusLine)'")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces()
            if headers[name] == nil { headers[name] = value }
        }
        return HTTPResponseHead(status: status, headers: headers, length: end + 4)
    }

    var contentLength: Int? { headers["content-length"].flatMap { Int($0) } }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}

/// Index of the first occurrence of `needle` in `haystack` (naive; the inputs are small).
func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    let first = needle[0]
    var i = start
    let last = haystack.count - needle.count
    while i <= last {
        if haystack[i] == first {
            var k = 1
            while k < needle.count && haystack[i + k] == needle[k] { k += 1 }
            if k == needle.count { return i }
        }
        i += 1
    }
    return nil
}

/// Splits a text message of the JSON hub protocol into records (one WebSocket message may carry several), each a
/// view without its 0x1E valid during the call; `body` returns false to stop. Bytes after the last 0x1E are ignored.
func forEachRecord(_ message: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool) {
    guard let base = message.baseAddress else { return }
    var start = 0
    while start < message.count, let hit = memchr(base + start, Int32(HubMessages.recordSeparator), message.count - start) {
        let end = base.distance(to: UnsafeRawPointer(hit))
        guard body(UnsafeRawBufferPointer(rebasing: message[start..<end])) else { return }
        start = end + 1
    }
}

func forEachRecord(_ message: [UInt8], _ body: (UnsafeRawBufferPointer) -> Void) {
    message.withUnsafeBytes { forEachRecord($0) { body($0); return true } }
}
