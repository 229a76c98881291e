// The client side of the wire, written independently of the server's codecs on purpose: a load client that
// shared the server's parser would also share its bugs.

/// `http://host:port/path` of a hub, the only URL shape the benchmarks take.
struct HubURL: Equatable, CustomStringConvertible {
    var host: String
    var port: UInt16
    /// Hub path without a trailing slash, e.g. `/chatHub`.
    var path: String

    /// Parses `http://host:port/path`. Only plain `http` and numeric IPv4 hosts or `localhost`.
    init(parsing text: String) throws(UsageError) {
        guard text.hasPrefix("http://") else { throw UsageError("'\(text)' is not an http:// URL") }
        let rest = text.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var path = String(rest[slash...])
        while path.hasSuffix("/") { path.removeLast() }
        guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]), port > 0
        else { throw UsageError("'\(text)' needs an explicit port (http://host:port/path)") }
        var host = String(authority[..<colon])
        if host == "localhost" { host = "127.0.0.1" }
        guard IPv4.parse(host) != nil else { throw UsageError("'\(text)': host must be an IPv4 literal or localhost") }
        guard !path.isEmpty else { throw UsageError("'\(text)' has no hub path (e.g. /chatHub)") }
        self.host = host
        self.port = port
        self.path = path
    }

    var description: String { "http://\(host):\(port)\(path)" }
    var hostHeader: String { "\(host):\(port)" }
}

/// Dotted-quad IPv4 parsing without the resolver.
enum IPv4 {
    /// The four octets, or nil.
    static func parse(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out = [UInt8]()
        for part in parts {
            guard !part.isEmpty, part.count <= 3, let v = UInt8(part) else { return nil }
            out.append(v)
        }
        return out
    }
}

/// Requests a SignalR client sends before the hub protocol starts.
enum ClientRequests {
    /// `POST {hub}/negotiate?negotiateVersion=1` with an empty body.
    static func negotiate(_ url: HubURL) -> [UInt8] {
        Array(
            ("POST \(url.path)/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: \(url.hostHeader)\r\n"
                + "Content-Length: 0\r\nUser-Agent: signalr-bench\r\n\r\n").utf8)
    }

    /// The WebSocket upgrade for the hub (with `id=token`, or none = skipNegotiation), followed by the JSON hub
    /// handshake in the same write: the server must keep the bytes that arrive after an upgrade request.
    static func upgradeAndHandshake(_ url: HubURL, token: String?, key: String, mask: inout MaskSource) -> [UInt8] {
        var target = url.path
        if let token { target += "?id=" + percentEncode(token) }
        var out = Array(
            ("GET \(target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nUser-Agent: signalr-bench\r\n\r\n").utf8)
        ClientFrame.appendText(HubMessages.handshake, mask: mask.next(), into: &out)
        return out
    }

    /// Query-value percent-encoding of everything outside the unreserved set.
    static func percentEncode(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// JSON hub protocol messages the benchmarks send, each ending with the record separator 0x1E.
enum HubMessages {
    static let recordSeparator: UInt8 = 0x1E
    static let handshake: [UInt8] = Array("{\"protocol\":\"json\",\"version\":1}".utf8) + [0x1E]
    static let ping: [UInt8] = Array("{\"type\":6}".utf8) + [0x1E]

    /// A non-blocking invocation (no invocationId) of `SendMessage(user, message)`. `message` must need no JSON
    /// escaping (the benchmarks only use ASCII letters, digits and `|`).
    static func appendSendMessage(user: String, message: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(contentsOf: "{\"type\":1,\"target\":\"SendMessage\",\"arguments\":[\"".utf8)
        out.append(contentsOf: user.utf8)
        out.append(contentsOf: "\",\"".utf8)
        out.append(contentsOf: message)
        out.append(contentsOf: "\"]}".utf8)
        out.append(recordSeparator)
    }
}

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

/// Client → server frames: always masked (RFC 6455 §5.1), never fragmented.
enum ClientFrame {
    static let opText: UInt8 = 0x1
    static let opClose: UInt8 = 0x8
    static let opPong: UInt8 = 0xA

    static func appendText(_ payload: [UInt8], mask: UInt32, into out: inout [UInt8]) {
        payload.withUnsafeBytes { append(opcode: opText, payload: $0, mask: mask, into: &out) }
    }

    /// Appends one FIN frame with the masked `payload`.
    static func append(opcode: UInt8, payload: UnsafeRawBufferPointer, mask: UInt32, into out: inout [UInt8]) {
        out.append(0x80 | opcode)
        let n = payload.count
        if n <= 125 {
            out.append(0x80 | UInt8(n))
        } else if n <= 0xFFFF {
            out.append(0x80 | 126)
            out.append(UInt8(truncatingIfNeeded: n >> 8))
            out.append(UInt8(truncatingIfNeeded: n))
        } else {
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(n) >> UInt64(shift))) }
        }
        let key: [UInt8] = [
            UInt8(truncatingIfNeeded: mask >> 24), UInt8(truncatingIfNeeded: mask >> 16),
            UInt8(truncatingIfNeeded: mask >> 8), UInt8(truncatingIfNeeded: mask),
        ]
        out.append(contentsOf: key)
        var i = 0
        for b in payload {
            out.append(b ^ key[i & 3])
            i += 1
        }
    }
}

/// What ``ServerFrameParser`` produces.
enum ServerFrameEvent: Equatable {
    /// A whole text message (fragments joined).
    case text([UInt8])
    case binary([UInt8])
    case ping([UInt8])
    case pong
    case close(code: UInt16?)
}

/// The server broke the framing rules (the benchmark reports it and drops the connection).
struct WireError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Incremental parser for server → client WebSocket frames: feed it bytes in any pieces, pull events.
///
/// Checks what a client must (no masking from a server, no reserved bits, control frames ≤ 125 bytes and
/// unfragmented, continuation only inside a message) and caps a message at `maxMessageBytes`.
struct ServerFrameParser {
    /// Largest data message accepted (default 1 MiB: the chat server's messages are far smaller).
    let maxMessageBytes: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var partialOpcode: UInt8?
    private var partial: [UInt8] = []

    init(maxMessageBytes: Int = 1 << 20) {
        self.maxMessageBytes = maxMessageBytes
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if readIndex > 0 && readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex > 4096 && readIndex * 2 > buffer.count {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next event, or nil when more bytes are needed.
    mutating func next() throws(WireError) -> ServerFrameEvent? {
        while true {
            let available = buffer.count - readIndex
            guard available >= 2 else { return nil }
            let b0 = buffer[readIndex]
            let b1 = buffer[readIndex + 1]
            guard b0 & 0x70 == 0 else { throw WireError("reserved bits set in a server frame") }
            guard b1 & 0x80 == 0 else { throw WireError("masked server frame") }
            let fin = b0 & 0x80 != 0
            let opcode = b0 & 0x0F
            var header = 2
            var length = Int(b1 & 0x7F)
            if length == 126 {
                guard available >= 4 else { return nil }
                length = Int(buffer[readIndex + 2]) << 8 | Int(buffer[readIndex + 3])
                header = 4
            } else if length == 127 {
                guard available >= 10 else { return nil }
                var v: UInt64 = 0
                for k in 2..<10 { v = v << 8 | UInt64(buffer[readIndex + k]) }
                guard v <= UInt64(maxMessageBytes) else { throw WireError("frame of \(v) bytes is over the limit") }
                length = Int(v)
                header = 10
            }
            let isControl = opcode & 0x8 != 0
            if isControl && (!fin || length > 125) { throw WireError("bad control frame") }
            if length > maxMessageBytes { throw WireError("frame of \(length) bytes is over the limit") }
            guard available >= header + length else { return nil }
            let start = readIndex + header
            let payload = Array(buffer[start..<(start + length)])
            readIndex = start + length
            switch opcode {
            case 0x0:
                guard let op = partialOpcode else { throw WireError("continuation frame outside a message") }
                guard partial.count + length <= maxMessageBytes else { throw WireError("message over the limit") }
                partial.append(contentsOf: payload)
                if fin {
                    let message = partial
                    partial = []
                    partialOpcode = nil
                    return op == 0x1 ? .text(message) : .binary(message)
                }
            case 0x1, 0x2:
                guard partialOpcode == nil else { throw WireError("new data frame inside a fragmented message") }
                if fin { return opcode == 0x1 ? .text(payload) : .binary(payload) }
                partialOpcode = opcode
                partial = payload
            case 0x8:
                return .close(code: payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil)
            case 0x9:
                return .ping(payload)
            case 0xA:
                return .pong
            default:
                throw WireError("reserved opcode \(opcode)")
            }
        }
    }
}

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

/// Splits the text messages of the JSON hub protocol into records (one WebSocket message may carry several).
func forEachRecord(_ message: [UInt8], _ body: (ArraySlice<UInt8>) -> Void) {
    var start = 0
    for i in message.indices where message[i] == HubMessages.recordSeparator {
        body(message[start..<i])
        start = i + 1
    }
}
