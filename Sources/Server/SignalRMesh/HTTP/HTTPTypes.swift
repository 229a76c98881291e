// Value types shared by the HTTP/1.1 request parser, the response writer and the router.
// Nothing here touches sockets or Foundation.

// MARK: - Headers

/// An ordered list of header fields with case-insensitive name lookup.
///
/// Order and duplicates are kept exactly as received (or added), because some fields are lists
/// (`Connection`, `Upgrade`) and repeated lines of such a field are one comma-separated list.
/// Lookups compare names byte by byte, ASCII case-folded, without allocating.
struct HTTPHeaders: Sequence, Equatable, Sendable, CustomStringConvertible {
    typealias Element = (name: String, value: String)

    private var fields: [Element]

    init() {
        fields = []
    }

    init(_ pairs: [(String, String)]) {
        fields = pairs.map { (name: $0.0, value: $0.1) }
    }

    /// Room for `capacity` lines without regrowing (the parser knows a typical request has ~10).
    mutating func reserveCapacity(_ capacity: Int) {
        fields.reserveCapacity(capacity)
    }

    /// Number of field lines (not distinct names).
    var count: Int { fields.count }

    var isEmpty: Bool { fields.isEmpty }

    /// Appends a field line, keeping any existing lines with the same name.
    mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces the first line named `name` (dropping any later duplicates), or appends one.
    mutating func replaceOrAdd(_ name: String, _ value: String) {
        guard let first = fields.firstIndex(where: { HTTPSyntax.nameEquals($0.name, name) }) else {
            fields.append((name: name, value: value))
            return
        }
        fields[first].value = value
        var index = fields.count - 1
        while index > first {
            if HTTPSyntax.nameEquals(fields[index].name, name) { fields.remove(at: index) }
            index -= 1
        }
    }

    /// Removes every line named `name`.
    mutating func remove(_ name: String) {
        fields.removeAll { HTTPSyntax.nameEquals($0.name, name) }
    }

    /// The value of the first line named `name`, if any.
    subscript(_ name: String) -> String? {
        for field in fields where HTTPSyntax.nameEquals(field.name, name) {
            return field.value
        }
        return nil
    }

    /// The values of every line named `name`, in order.
    func values(_ name: String) -> [String] {
        fields.compactMap { HTTPSyntax.nameEquals($0.name, name) ? $0.value : nil }
    }

    /// Whether any line named `name` holds `token` as one of its comma-separated elements
    /// (ASCII case-insensitive, surrounding spaces/tabs ignored). `Connection: keep-alive, Upgrade`
    /// contains both `upgrade` and `keep-alive`.
    func containsToken(_ name: String, _ token: String) -> Bool {
        for field in fields where HTTPSyntax.nameEquals(field.name, name) {
            if listContainsToken(field.value, token) { return true }
        }
        return false
    }

    func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }
}

/// Byte-level helpers for HTTP syntax (RFC 9110 5.6), shared by the parser, headers and static files.
enum HTTPSyntax {
    /// ASCII case-insensitive equality of two header names (or tokens), without allocating.
    static func nameEquals(_ a: String, _ b: String) -> Bool {
        // Most comparisons are against a different name: the O(1) length check settles them.
        guard a.utf8.count == b.utf8.count else { return false }
        let fast = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in foldedEquals(left, right) }
        }
        if let fast, let result = fast { return result }
        return a.utf8.elementsEqual(b.utf8) { lower($0) == lower($1) }
    }

    /// Whether `bytes` equals `lowercase` (which must be lowercase ASCII) ignoring ASCII case.
    @inline(__always)
    static func equalsLowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let literal = lowercase.utf8Start
        for i in 0..<bytes.count where lower(bytes[i]) != literal[i] {
            return false
        }
        return true
    }

    @inline(__always)
    private static func foldedEquals(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i] != b[i] && lower(a[i]) != lower(b[i]) {
            return false
        }
        return true
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
    }

    /// Optional whitespace: space or horizontal tab.
    @inline(__always)
    static func isOWS(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09
    }

    /// `tchar`: the characters allowed in a method or a header name, as a 128-bit set
    /// (``tokenCharsLow`` for bytes 0-63, ``tokenCharsHigh`` for 64-127): one shift instead of a switch.
    @inline(__always)
    static func isTokenChar(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenCharsLow >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (tokenCharsHigh >> UInt64(byte - 64)) & 1 == 1 }
        return false
    }

    /// Bits set for `! # $ % & ' * + - .` and `0-9` (RFC 9110 5.6.2); the test suite rebuilds both masks
    /// from the RFC's character list.
    static let tokenCharsLow: UInt64 = 0x03FF_6CFA_0000_0000
    /// Bits set for `A-Z ^ _ \` a-z | ~`.
    static let tokenCharsHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// A byte allowed inside a field value: VCHAR, SP, HTAB or obs-text. Every other control byte
    /// (CR, LF, NUL, DEL...) is refused, which is what stops header injection and bare-CR tricks.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == 0x09
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Whether the comma-separated list `list` has an element equal to `token` (ASCII case-insensitive).
private func listContainsToken(_ list: String, _ token: String) -> Bool {
    let tokenBytes = token.utf8
    var list = list
    return list.withUTF8 { bytes -> Bool in
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
            var low = start
            var high = end
            while low < high && HTTPSyntax.isOWS(bytes[low]) { low += 1 }
            while high > low && HTTPSyntax.isOWS(bytes[high - 1]) { high -= 1 }
            if high - low == tokenBytes.count {
                var matched = true
                var i = low
                for t in tokenBytes {
                    if HTTPSyntax.lower(bytes[i]) != HTTPSyntax.lower(t) {
                        matched = false
                        break
                    }
                    i += 1
                }
                if matched { return true }
            }
            start = end + 1
        }
        return false
    }
}

// MARK: - Version

/// The protocol version from a request line. Only 1.0 and 1.1 get past the parser.
struct HTTPVersion: Equatable, Hashable, Sendable, CustomStringConvertible {
    var major: Int
    var minor: Int

    init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    static let http1_0 = HTTPVersion(major: 1, minor: 0)
    static let http1_1 = HTTPVersion(major: 1, minor: 1)

    var description: String { "HTTP/\(major).\(minor)" }
}

// MARK: - Request

/// One complete request as the parser hands it out: head fields, decoded target and the whole body
/// (chunked bodies already de-chunked).
struct HTTPRequest: Equatable, Sendable {
    /// As sent: methods are case-sensitive (RFC 9110 9.1), so `get` is not `GET`.
    var method: String
    /// The raw request-target from the request line.
    var target: String
    /// The percent-decoded path without the query (`/` for an absolute-form target without a path,
    /// `*` for the asterisk form).
    var path: String
    /// Query pairs in order, percent-decoded with `+` read as a space. A key without `=` has an empty value.
    var query: [(String, String)]
    var version: HTTPVersion
    var headers: HTTPHeaders
    var body: [UInt8]
    /// Whether the connection may stay open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    var keepAlive: Bool
    /// `GET` over HTTP/1.1 with `Upgrade: websocket` and `Connection: upgrade`. HTTP/1.0 never counts:
    /// RFC 9110 7.8 tells servers to ignore `Upgrade` in a 1.0 request.
    var isWebSocketUpgrade: Bool

    /// Builds a request by hand (for tests and internal routing). The target is decoded the same way the
    /// parser does it; a target the parser would reject is kept as the path with no query.
    init(
        method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = .init(),
        body: [UInt8] = []
    ) {
        let bytes = Array(target.utf8)
        let decoded = bytes.withUnsafeBufferPointer { try? HTTPTarget.decode($0) }
        self.init(
            method: method, target: target, path: decoded?.path ?? target, query: decoded?.query ?? [],
            version: version, headers: headers, body: body)
    }

    /// Memberwise form used by the parser once the target has been decoded.
    init(
        method: String, target: String, path: String, query: [(String, String)], version: HTTPVersion,
        headers: HTTPHeaders, body: [UInt8]
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        if version == .http1_1 {
            keepAlive = !headers.containsToken("Connection", "close")
        } else {
            keepAlive = headers.containsToken("Connection", "keep-alive") && !headers.containsToken("Connection", "close")
        }
        isWebSocketUpgrade =
            method == "GET" && version == .http1_1 && headers.containsToken("Upgrade", "websocket")
            && headers.containsToken("Connection", "upgrade")
    }

    /// The first query value whose key matches `name` ASCII case-insensitively. ASP.NET Core's
    /// `Request.Query` ignores key case, and clients send `negotiateVersion` while servers read `NegotiateVersion`.
    func queryValue(_ name: String) -> String? {
        for (key, value) in query where HTTPSyntax.nameEquals(key, name) {
            return value
        }
        return nil
    }

    static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.path == rhs.path
            && lhs.query.count == rhs.query.count
            && zip(lhs.query, rhs.query).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            && lhs.version == rhs.version && lhs.headers == rhs.headers && lhs.body == rhs.body
            && lhs.keepAlive == rhs.keepAlive && lhs.isWebSocketUpgrade == rhs.isWebSocketUpgrade
    }
}

// MARK: - Errors

/// Why a request could not be parsed. Each case knows the status and the short plain-text body of the
/// error response; after sending it the connection must be closed, since the byte stream can no longer
/// be trusted to be framed correctly.
enum HTTPParseError: Error, Equatable, CustomStringConvertible {
    /// 400. The associated text says what was wrong, e.g. `"malformed request line"`.
    case badRequest(String)
    /// 414: the request line is longer than ``HTTPParserLimits/maxRequestLineBytes``.
    case uriTooLong
    /// 431: the header section (or the chunked trailer section) is too large, or has too many fields.
    case headersTooLarge
    /// 413: the declared or accumulated body is larger than ``HTTPParserLimits/maxBodyBytes``.
    case payloadTooLarge
    /// 501: e.g. a transfer coding other than `chunked`. The text names what is unsupported.
    case notImplemented(String)
    /// 505: a well-formed `HTTP/x.y` version other than 1.0 and 1.1.
    case versionNotSupported

    var status: Int {
        switch self {
        case .badRequest: 400
        case .uriTooLong: 414
        case .headersTooLarge: 431
        case .payloadTooLarge: 413
        case .notImplemented: 501
        case .versionNotSupported: 505
        }
    }

    /// Body text for the error response.
    var message: String {
        switch self {
        case .badRequest(let detail): "Bad Request: \(detail)"
        case .uriTooLong: "URI Too Long"
        case .headersTooLarge: "Request Header Fields Too Large"
        case .payloadTooLarge: "Payload Too Large"
        case .notImplemented(let detail): "Not Implemented: \(detail)"
        case .versionNotSupported: "HTTP Version Not Supported"
        }
    }

    var description: String { "\(status) \(message)" }
}

// MARK: - Request-target decoding

/// Splits and decodes a request-target (RFC 9112 3.2): origin-form `/p?q`, absolute-form
/// `http://host/p?q` and the asterisk form `*`. Authority-form is only for CONNECT, which this server
/// doesn't do, so it is rejected with the rest.
enum HTTPTarget {
    static func decode(_ target: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> (path: String, query: [(String, String)]) {
        guard !target.isEmpty else { throw .badRequest("empty request target") }
        var pathStart = 0
        if target[0] == UInt8(ascii: "*") {
            guard target.count == 1 else { throw .badRequest("invalid request target") }
            return ("*", [])
        } else if target[0] != UInt8(ascii: "/") {
            // absolute-form: scheme "://" authority [path-abempty] ["?" query]
            guard let schemeEnd = schemeLength(target) else { throw .badRequest("invalid request target") }
            pathStart = schemeEnd + 3
            while pathStart < target.count && target[pathStart] != UInt8(ascii: "/")
                && target[pathStart] != UInt8(ascii: "?")
            {
                pathStart += 1
            }
        }
        var queryStart = pathStart
        while queryStart < target.count && target[queryStart] != UInt8(ascii: "?") { queryStart += 1 }

        var path = percentDecode(UnsafeBufferPointer(rebasing: target[pathStart..<queryStart]), plusAsSpace: false)
        if path.isEmpty { path = "/" }
        var query: [(String, String)] = []
        if queryStart < target.count {
            query = decodeQuery(UnsafeBufferPointer(rebasing: target[(queryStart + 1)...]))
        }
        return (path, query)
    }

    /// Length of `http` / `https` when the target starts with `http://` or `https://` (any case).
    private static func schemeLength(_ target: UnsafeBufferPointer<UInt8>) -> Int? {
        for scheme in ["http", "https"] {
            let count = scheme.utf8.count
            guard target.count > count + 3 else { continue }
            var i = 0
            var matched = true
            for byte in scheme.utf8 {
                if HTTPSyntax.lower(target[i]) != byte {
                    matched = false
                    break
                }
                i += 1
            }
            if matched && target[count] == UInt8(ascii: ":") && target[count + 1] == UInt8(ascii: "/")
                && target[count + 2] == UInt8(ascii: "/")
            {
                return count
            }
        }
        return nil
    }

    /// `a=1&b=x+y&flag` → `[("a","1"), ("b","x y"), ("flag","")]`. Empty segments (`&&`) are skipped.
    static func decodeQuery(_ bytes: UnsafeBufferPointer<UInt8>) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var start = 0
        while start < bytes.count {
            var end = start
            var equals = -1
            while end < bytes.count && bytes[end] != UInt8(ascii: "&") {
                if equals < 0 && bytes[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if end > start {
                if equals >= 0 {
                    pairs.append(
                        (
                            percentDecode(UnsafeBufferPointer(rebasing: bytes[start..<equals]), plusAsSpace: true),
                            percentDecode(UnsafeBufferPointer(rebasing: bytes[(equals + 1)..<end]), plusAsSpace: true)
                        ))
                } else {
                    pairs.append((percentDecode(UnsafeBufferPointer(rebasing: bytes[start..<end]), plusAsSpace: true), ""))
                }
            }
            start = end + 1
        }
        return pairs
    }

    /// Decodes `%XX` escapes (and `+` when `plusAsSpace`). A `%` not followed by two hex digits is kept
    /// literally, as ASP.NET Core does; invalid UTF-8 after decoding becomes U+FFFD.
    static func percentDecode(_ bytes: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool) -> String {
        var needsWork = false
        for byte in bytes where byte == UInt8(ascii: "%") || (plusAsSpace && byte == UInt8(ascii: "+")) {
            needsWork = true
            break
        }
        if !needsWork { return String(decoding: bytes, as: UTF8.self) }

        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "%"), i + 2 < bytes.count, let high = HTTPSyntax.hexValue(bytes[i + 1]),
                let low = HTTPSyntax.hexValue(bytes[i + 2])
            {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(plusAsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
