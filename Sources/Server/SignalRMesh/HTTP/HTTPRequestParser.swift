#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Size limits for ``HTTPRequestParser``. Each is checked before more bytes than it allows are kept, so a
/// peer streaming an endless header or request line is stopped when it crosses the limit, not when it stops.
struct HTTPParserLimits: Equatable, Sendable {
    /// Longest request line, without its line ending (414 above it). 8 KiB, like most servers.
    var maxRequestLineBytes = 8192
    /// Largest header section, counting every field line and its line ending (431 above it). The same
    /// budget applies again to the trailer section of a chunked body.
    var maxHeaderBytes = 32768
    /// Most header field lines (431 above it).
    var maxHeaderCount = 100
    /// Largest body, declared by `Content-Length` or summed over chunks (413 above it). 1 MiB: SignalR
    /// long-polling sends are small, and hub messages have their own (smaller) limit.
    var maxBodyBytes = 1 << 20
}

/// An incremental HTTP/1.1 request parser (RFC 9112), fed bytes as they arrive.
///
/// Bytes go in with ``append(_:)-(UnsafeRawBufferPointer)``; whole requests come out of ``nextRequest()``,
/// one per call and in order, so pipelined requests work. `nil` means "need more bytes". Call
/// `nextRequest()` after every `append`: that is where the limits are enforced.
///
/// ```swift
/// parser.append(bytesFromSocket)
/// while let request = try parser.nextRequest() { respond(to: request) }
/// if parser.takeExpectContinue() { write("HTTP/1.1 100 Continue\r\n\r\n") }
/// ```
///
/// The parser reads each line once, as soon as its line feed arrives, and keeps the fields it has parsed, so
/// a head that trickles in is never rescanned from the start. It accepts CRLF and bare-LF line endings
/// (RFC 9112 2.2) and refuses a bare CR anywhere in the head. After it throws, it stays failed: every later
/// call throws the same error, because the rest of the byte stream can't be framed any more and the
/// connection has to be closed after the error response.
///
/// After a WebSocket upgrade request, the bytes that followed it (the client's first frames, if it didn't
/// wait for the 101) are still buffered: take them with ``takeBufferedBytes()`` and stop using the parser.
struct HTTPRequestParser: Sendable {
    let limits: HTTPParserLimits

    /// What the next bytes are expected to be.
    private enum Phase: Equatable {
        case requestLine
        case headers
        /// Content-Length body; `remaining` bytes still to come (0 for no body).
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        case trailers
        case failed(HTTPParseError)
    }

    /// What has been learnt so far about the request being parsed.
    private struct Head {
        var method = ""
        var target = ""
        var path = ""
        var query: [(String, String)] = []
        var version = HTTPVersion.http1_1
        var headers = HTTPHeaders()
        /// Bytes of the header section so far; reused for the trailer section.
        var sectionBytes = 0
        var contentLength: Int?
        var hostCount = 0
        var hasTransferEncoding = false
        var emptyLinesSkipped = 0
    }

    /// RFC 9112 2.2 asks servers to skip at least one empty line before a request line (old clients sent
    /// an extra CRLF after a POST body). A few are tolerated; an endless stream of them is not a request.
    private static let maxLeadingEmptyLines = 8
    /// Longest chunk-size line (size plus extensions), which RFC 9112 7.1.1 asks servers to limit.
    private static let maxChunkLineBytes = 4096

    private var buffer: [UInt8] = []
    /// First byte not yet consumed. Bytes before it are dead and dropped by `compact()`.
    private var readIndex = 0
    /// Where the search for the current line's LF resumes, so a partial line is never scanned twice.
    private var scanIndex = 0
    private var phase = Phase.requestLine
    private var head = Head()
    private var body: [UInt8] = []
    private var expectContinue = false

    init(limits: HTTPParserLimits = .init()) {
        self.limits = limits
    }

    // MARK: Feeding and draining

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if case .failed = phase { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Returns the next complete request, or `nil` if more bytes are needed.
    /// - Throws: ``HTTPParseError``; the parser then stays failed and rethrows it on every call.
    mutating func nextRequest() throws -> HTTPRequest? {
        do {
            return try step()
        } catch {
            phase = .failed(error)
            expectContinue = false
            throw error
        }
    }

    /// Removes and returns every buffered byte that hasn't been parsed. Meant for the moment right after
    /// ``nextRequest()`` returned an upgrade request: those bytes belong to the new protocol.
    mutating func takeBufferedBytes() -> [UInt8] {
        let rest = Array(buffer[readIndex...])
        buffer.removeAll()
        readIndex = 0
        scanIndex = 0
        return rest
    }

    /// Whether part of a request has arrived but not all of it: the connection's header/body read timeout
    /// should be running. False between requests and once the parser has failed.
    var hasPartialRequest: Bool {
        switch phase {
        case .failed: false
        case .requestLine: readIndex < buffer.count
        default: true
        }
    }

    /// True once per request whose head carried `Expect: 100-continue` (HTTP/1.1) while its body is still
    /// incomplete; the server should then write `100 Continue` so the client sends the body (RFC 9110 10.1.1).
    mutating func takeExpectContinue() -> Bool {
        defer { expectContinue = false }
        return expectContinue
    }

    // MARK: State machine

    private mutating func step() throws(HTTPParseError) -> HTTPRequest? {
        while true {
            switch phase {
            case .failed(let error):
                throw error

            case .requestLine:
                guard let line = nextLine() else {
                    if pendingLineContentBytes() > limits.maxRequestLineBytes { throw .uriTooLong }
                    return nil
                }
                if line.content.isEmpty {
                    head.emptyLinesSkipped += 1
                    if head.emptyLinesSkipped > Self.maxLeadingEmptyLines {
                        throw .badRequest("too many empty lines before the request line")
                    }
                    continue
                }
                // Size before syntax: the verdict then doesn't depend on how the line was split.
                if line.content.count > limits.maxRequestLineBytes { throw .uriTooLong }
                try parseRequestLine(line.content)
                phase = .headers

            case .headers:
                guard let line = nextLine() else {
                    if head.sectionBytes + (buffer.count - readIndex) > limits.maxHeaderBytes { throw .headersTooLarge }
                    return nil
                }
                head.sectionBytes += line.total
                if head.sectionBytes > limits.maxHeaderBytes { throw .headersTooLarge }
                if line.content.isEmpty {
                    try endOfHead()
                    continue
                }
                if head.headers.count >= limits.maxHeaderCount { throw .headersTooLarge }
                try parseHeaderLine(line.content)

            case .body(let remaining):
                let taken = takeBody(upTo: remaining)
                if taken < remaining {
                    phase = .body(remaining: remaining - taken)
                    return nil
                }
                return finish()

            case .chunkSize:
                guard let line = nextLine() else {
                    if buffer.count - readIndex > Self.maxChunkLineBytes { throw .badRequest("chunk size line too long") }
                    return nil
                }
                if line.total > Self.maxChunkLineBytes { throw .badRequest("chunk size line too long") }
                let size = try parseChunkSize(line.content)
                if size == 0 {
                    head.sectionBytes = 0
                    phase = .trailers
                } else {
                    if size > limits.maxBodyBytes - body.count { throw .payloadTooLarge }
                    phase = .chunkData(remaining: size)
                }

            case .chunkData(let remaining):
                let taken = takeBody(upTo: remaining)
                if taken < remaining {
                    phase = .chunkData(remaining: remaining - taken)
                    return nil
                }
                phase = .chunkDataEnd

            case .chunkDataEnd:
                guard readIndex < buffer.count else { return nil }
                if buffer[readIndex] == UInt8(ascii: "\n") {
                    readIndex += 1
                } else if buffer[readIndex] == UInt8(ascii: "\r") {
                    guard readIndex + 1 < buffer.count else { return nil }
                    guard buffer[readIndex + 1] == UInt8(ascii: "\n") else { throw .badRequest("malformed chunk") }
                    readIndex += 2
                } else {
                    throw .badRequest("chunk data longer than its declared size")
                }
                scanIndex = readIndex
                phase = .chunkSize

            case .trailers:
                guard let line = nextLine() else {
                    if head.sectionBytes + (buffer.count - readIndex) > limits.maxHeaderBytes { throw .headersTooLarge }
                    return nil
                }
                head.sectionBytes += line.total
                if head.sectionBytes > limits.maxHeaderBytes { throw .headersTooLarge }
                if line.content.isEmpty { return finish() }
                // Trailer fields are checked for syntax and then dropped: nothing here needs them, and
                // merging them into the headers would let a body add fields after the head was validated.
                _ = try withLine(line.content) { bytes throws(HTTPParseError) in try Self.splitField(bytes) }
            }
        }
    }

    /// Builds the finished request and resets for the next one.
    private mutating func finish() -> HTTPRequest {
        let request = HTTPRequest(
            method: head.method, target: head.target, path: head.path, query: head.query, version: head.version,
            headers: head.headers, body: body)
        head = Head()
        body = []
        phase = .requestLine
        expectContinue = false
        return request
    }

    /// Moves up to `count` buffered bytes into the body; returns how many were moved.
    private mutating func takeBody(upTo count: Int) -> Int {
        let taken = min(count, buffer.count - readIndex)
        if taken > 0 {
            body.append(contentsOf: buffer[readIndex..<(readIndex + taken)])
            readIndex += taken
            scanIndex = readIndex
        }
        return taken
    }

    // MARK: Lines

    /// Consumes the next complete line. `content` excludes the line ending (LF or CRLF); `total` includes it.
    private mutating func nextLine() -> (content: Range<Int>, total: Int)? {
        let from = scanIndex
        let count = buffer.count
        guard from < count else { return nil }
        let lineFeed: Int? = buffer.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, let hit = memchr(base + from, 0x0A, count - from) else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        guard let lineFeed else {
            scanIndex = count
            return nil
        }
        let start = readIndex
        var end = lineFeed
        if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        readIndex = lineFeed + 1
        scanIndex = readIndex
        return (start..<end, readIndex - start)
    }

    /// Length of the unfinished line so far, not counting a trailing CR that may be the start of its CRLF.
    private func pendingLineContentBytes() -> Int {
        let pending = buffer.count - readIndex
        return pending > 0 && buffer[buffer.count - 1] == UInt8(ascii: "\r") ? pending - 1 : pending
    }

    private func withLine<R>(
        _ range: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> R
    ) throws(HTTPParseError) -> R {
        let result: Result<R, HTTPParseError> = buffer.withUnsafeBufferPointer { all in
            do throws(HTTPParseError) {
                return .success(try body(UnsafeBufferPointer(rebasing: all[range])))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Drops consumed bytes once they are at least half the buffer, so the copy stays amortised O(1).
    private mutating func compact() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
        } else if readIndex >= 4096 && readIndex * 2 >= buffer.count {
            buffer.removeSubrange(0..<readIndex)
        } else {
            return
        }
        scanIndex -= readIndex
        readIndex = 0
    }

    // MARK: Request line

    /// `method SP request-target SP HTTP-version`, single spaces only (RFC 9112 3).
    private mutating func parseRequestLine(_ range: Range<Int>) throws(HTTPParseError) {
        let parsed = try withLine(range) { line throws(HTTPParseError) in
            let malformed = HTTPParseError.badRequest("malformed request line")
            var i = 0
            while i < line.count && HTTPSyntax.isTokenChar(line[i]) { i += 1 }
            guard i > 0, i < line.count, line[i] == UInt8(ascii: " ") else { throw malformed }
            let methodEnd = i
            i += 1
            let targetStart = i
            // request-target is visible ASCII; a space ends it, anything else (CTL, DEL, raw UTF-8) is refused.
            while i < line.count && line[i] > 0x20 && line[i] < 0x7F { i += 1 }
            guard i > targetStart, i < line.count, line[i] == UInt8(ascii: " ") else { throw malformed }
            let targetEnd = i
            let version = try Self.parseVersion(UnsafeBufferPointer(rebasing: line[(i + 1)...]))
            let target = UnsafeBufferPointer(rebasing: line[targetStart..<targetEnd])
            let decoded = try HTTPTarget.decode(target)
            return (
                method: String(decoding: UnsafeBufferPointer(rebasing: line[0..<methodEnd]), as: UTF8.self),
                target: String(decoding: target, as: UTF8.self), decoded: decoded, version: version
            )
        }
        head.method = parsed.method
        head.target = parsed.target
        head.path = parsed.decoded.path
        head.query = parsed.decoded.query
        head.version = parsed.version
        head.headers.reserveCapacity(16)
    }

    /// `HTTP/1.0` or `HTTP/1.1`; any other well-formed `HTTP/d.d` is a version we don't speak (505).
    private static func parseVersion(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        let prefix: StaticString = "HTTP/"
        guard bytes.count == 8 else { throw .badRequest("malformed request line") }
        for i in 0..<5 where bytes[i] != prefix.utf8Start[i] {
            throw .badRequest("malformed request line")
        }
        guard bytes[6] == UInt8(ascii: "."), let major = digit(bytes[5]), let minor = digit(bytes[7]) else {
            throw .badRequest("malformed request line")
        }
        guard major == 1, minor <= 1 else { throw .versionNotSupported }
        return HTTPVersion(major: major, minor: minor)
    }

    private static func digit(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }

    // MARK: Header fields

    /// `field-name ":" OWS field-value OWS` (RFC 9112 5). Returns the name and the trimmed value ranges.
    private static func splitField(
        _ line: UnsafeBufferPointer<UInt8>
    ) throws(HTTPParseError) -> (name: Range<Int>, value: Range<Int>) {
        // A line starting with whitespace is obs-fold (a continuation of the previous field), or, right
        // after the request line, whitespace that RFC 9112 2.2 says must be rejected.
        guard !HTTPSyntax.isOWS(line[0]) else { throw .badRequest("obsolete header line folding") }
        var colon = 0
        while colon < line.count && HTTPSyntax.isTokenChar(line[colon]) { colon += 1 }
        if colon == line.count || line[colon] != UInt8(ascii: ":") {
            var next = colon
            while next < line.count && HTTPSyntax.isOWS(line[next]) { next += 1 }
            // RFC 9112 5.1: whitespace between name and colon must be rejected (it smuggles headers
            // past proxies that strip it).
            if next > colon && next < line.count && line[next] == UInt8(ascii: ":") {
                throw .badRequest("whitespace before colon in header")
            }
            throw line[colon...].contains(UInt8(ascii: ":"))
                ? .badRequest("invalid character in header name") : .badRequest("header line without a colon")
        }
        guard colon > 0 else { throw .badRequest("empty header name") }
        var low = colon + 1
        var high = line.count
        while low < high && HTTPSyntax.isOWS(line[low]) { low += 1 }
        while high > low && HTTPSyntax.isOWS(line[high - 1]) { high -= 1 }
        for i in low..<high where !HTTPSyntax.isFieldValueByte(line[i]) {
            throw .badRequest("invalid character in header value")
        }
        return (0..<colon, low..<high)
    }

    /// The fields whose meaning the parser itself needs (framing and Host).
    private enum FieldKind {
        case contentLength, host, transferEncoding, other
    }

    private mutating func parseHeaderLine(_ range: Range<Int>) throws(HTTPParseError) {
        let (kind, name, value) = try withLine(range) { line throws(HTTPParseError) in
            let field = try Self.splitField(line)
            let nameBytes = UnsafeBufferPointer(rebasing: line[field.name])
            // Classified on the bytes, before any String exists: it runs for every header line.
            let kind: FieldKind =
                if HTTPSyntax.equalsLowercased(nameBytes, "content-length") {
                    .contentLength
                } else if HTTPSyntax.equalsLowercased(nameBytes, "host") {
                    .host
                } else if HTTPSyntax.equalsLowercased(nameBytes, "transfer-encoding") {
                    .transferEncoding
                } else {
                    .other
                }
            return (
                kind, String(decoding: nameBytes, as: UTF8.self),
                String(decoding: UnsafeBufferPointer(rebasing: line[field.value]), as: UTF8.self)
            )
        }
        switch kind {
        case .contentLength:
            let length = try Self.parseContentLength(value)
            if let existing = head.contentLength, existing != length {
                throw .badRequest("conflicting Content-Length headers")
            }
            // Refuse now rather than after the rest of the head: the body will never be accepted.
            if length > limits.maxBodyBytes { throw .payloadTooLarge }
            head.contentLength = length
        case .host:
            head.hostCount += 1
            // RFC 9112 3.2: more than one Host line, or an invalid value, must get a 400.
            if head.hostCount > 1 { throw .badRequest("multiple Host headers") }
            if !Self.isValidHost(value) { throw .badRequest("invalid Host header") }
        case .transferEncoding:
            head.hasTransferEncoding = true
        case .other:
            break
        }
        head.headers.add(name, value)
    }

    /// `uri-host [":" port]` (RFC 3986 reg-name, IPv4 or bracketed IPv6 characters). Empty is allowed:
    /// RFC 9112 3.2 permits it when the target has no authority.
    private static func isValidHost(_ value: String) -> Bool {
        value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"),
                UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
                UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
                UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
                true
            default:
                false
            }
        }
    }

    /// `1*DIGIT`, or a list of identical values (`5, 5`), which RFC 9110 8.6 lets a recipient accept.
    /// Values too big for an `Int` saturate: they are over any body limit anyway.
    private static func parseContentLength(_ value: String) throws(HTTPParseError) -> Int {
        var result: Int?
        var current = 0
        var digits = 0
        func close() throws(HTTPParseError) {
            guard digits > 0 else { throw .badRequest("invalid Content-Length") }
            if let result, result != current { throw .badRequest("conflicting Content-Length values") }
            result = current
            current = 0
            digits = 0
        }
        var afterDigits = false
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard !afterDigits else { throw .badRequest("invalid Content-Length") }
                digits += 1
                let (times10, o1) = current.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                current = o1 || o2 ? Int.max : sum
            case UInt8(ascii: ","):
                try close()
                afterDigits = false
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if digits > 0 { afterDigits = true }
            default:
                throw .badRequest("invalid Content-Length")
            }
        }
        try close()
        return result ?? 0
    }

    /// Called at the empty line ending the head: checks the framing headers and picks the body phase.
    private mutating func endOfHead() throws(HTTPParseError) {
        if head.version == .http1_1 && head.hostCount == 0 { throw .badRequest("missing Host header") }
        var chunked = false
        if head.hasTransferEncoding {
            // RFC 9112 6.1: both present is a request-smuggling signature; refuse instead of picking one.
            guard head.contentLength == nil else {
                throw .badRequest("both Transfer-Encoding and Content-Length")
            }
            // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty.
            guard head.version == .http1_1 else { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            let codings = head.headers.values("Transfer-Encoding")
            guard codings.count == 1, HTTPSyntax.nameEquals(codings[0], "chunked") else {
                throw .notImplemented("unsupported Transfer-Encoding")
            }
            chunked = true
        }
        // RFC 9110 10.1.1: a 1.0 client can't understand 100 Continue, so its Expect is ignored.
        let wantsContinue =
            head.version == .http1_1 && head.headers["Expect"].map { HTTPSyntax.nameEquals($0, "100-continue") } == true
        if chunked {
            phase = .chunkSize
            expectContinue = wantsContinue
        } else {
            let length = head.contentLength ?? 0
            // Reserve only a little up front: a declared length costs the peer nothing to send, so
            // memory should follow the bytes that actually arrive.
            body.reserveCapacity(min(length, 16 * 1024))
            phase = .body(remaining: length)
            expectContinue = wantsContinue && length > 0
        }
    }

    // MARK: Chunked bodies

    /// `chunk-size [ BWS ";" chunk-ext ]`: hex size; extensions are skipped unread.
    private func parseChunkSize(_ range: Range<Int>) throws(HTTPParseError) -> Int {
        try withLine(range) { line throws(HTTPParseError) in
            var size = 0
            var i = 0
            while i < line.count, let value = HTTPSyntax.hexValue(line[i]) {
                // 15 hex digits already exceed any body limit; stop before the Int overflows.
                guard i < 15 else { throw .payloadTooLarge }
                size = size << 4 | Int(value)
                i += 1
            }
            guard i > 0 else { throw .badRequest("invalid chunk size") }
            while i < line.count && HTTPSyntax.isOWS(line[i]) { i += 1 }
            guard i == line.count || line[i] == UInt8(ascii: ";") else { throw .badRequest("invalid chunk size") }
            for j in i..<line.count where !HTTPSyntax.isFieldValueByte(line[j]) {
                throw .badRequest("invalid chunk extension")
            }
            return size
        }
    }
}
