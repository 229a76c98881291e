import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A complete response: status, headers and the whole body, turned into wire bytes by
/// ``serialize(keepAlive:headOnly:requestVersion:)``.
///
/// `serialize` adds the framing headers itself (`Content-Length`, `Connection`, `Date`, `Server`), so
/// handlers only set what describes their content.
struct HTTPResponse: Equatable, Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]

    init(status: Int, headers: HTTPHeaders = .init(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response.
    static func text(_ status: Int, _ message: String) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")]), body: Array(message.utf8))
    }

    /// An `application/json` response; `body` is already-encoded JSON.
    static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/json")]), body: body)
    }

    /// The plain-text answer to a request the parser refused. Send it with `keepAlive: false`.
    static func parseError(_ error: HTTPParseError) -> HTTPResponse {
        text(error.status, error.message)
    }

    /// The bytes of the status line, the headers and (unless `headOnly`) the body.
    ///
    /// - Parameters:
    ///   - keepAlive: when false, `Connection: close` replaces any `Connection` header; the caller closes
    ///     the connection after writing.
    ///   - headOnly: for `HEAD`: headers (with the `Content-Length` the body would have) but no body.
    ///   - requestVersion: the request's version. An HTTP/1.0 client only keeps the connection open when the
    ///     response says `Connection: keep-alive`, so that header is added for it.
    ///
    /// `Content-Length` is added unless the status forbids a body (1xx, 204, 304), or the handler already set
    /// `Content-Length` or `Transfer-Encoding` (a streamed response frames its own body).
    func serialize(keepAlive: Bool, headOnly: Bool = false, requestVersion: HTTPVersion = .http1_1) -> [UInt8] {
        serialize(keepAlive: keepAlive, headOnly: headOnly, requestVersion: requestVersion, date: HTTPDate.now())
    }

    /// A streamed response's head: with `closeDelimited`, no `Content-Length` is added (the body is whatever
    /// follows until the connection closes; pass `keepAlive: false` and `headOnly: true`).
    func serialize(keepAlive: Bool, headOnly: Bool, requestVersion: HTTPVersion, closeDelimited: Bool) -> [UInt8] {
        serialize(keepAlive: keepAlive, headOnly: headOnly, requestVersion: requestVersion, date: HTTPDate.now(), closeDelimited: closeDelimited)
    }

    /// `serialize` with the `Date` value supplied (tests use a fixed one).
    func serialize(keepAlive: Bool, headOnly: Bool, requestVersion: HTTPVersion, date: [UInt8], closeDelimited: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + headers.count * 40 + (headOnly ? 0 : body.count))
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        out.append(contentsOf: String(status).utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: Self.reasonPhrase(status).utf8)
        out.append(contentsOf: "\r\n".utf8)

        var hasServer = false
        var hasDate = false
        var hasFraming = false
        for (name, value) in headers {
            if HTTPSyntax.nameEquals(name, "Connection") && (!keepAlive || requestVersion == .http1_0) { continue }
            if HTTPSyntax.nameEquals(name, "Server") { hasServer = true }
            if HTTPSyntax.nameEquals(name, "Date") { hasDate = true }
            if HTTPSyntax.nameEquals(name, "Content-Length") || HTTPSyntax.nameEquals(name, "Transfer-Encoding") {
                hasFraming = true
            }
            Self.appendField(&out, name, value)
        }
        if !hasServer { out.append(contentsOf: "Server: SignalRMesh\r\n".utf8) }
        if !hasDate {
            out.append(contentsOf: "Date: ".utf8)
            out.append(contentsOf: date)
            out.append(contentsOf: "\r\n".utf8)
        }
        let bodyAllowed = status >= 200 && status != 204 && status != 304
        if bodyAllowed && !hasFraming && !closeDelimited {
            out.append(contentsOf: "Content-Length: ".utf8)
            out.append(contentsOf: String(body.count).utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if requestVersion == .http1_0 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        if bodyAllowed && !headOnly { out.append(contentsOf: body) }
        return out
    }

    /// Writes `name: value\r\n`. CR, LF and NUL in either part become spaces: a value echoed from a request
    /// (an `Origin`, say) must never be able to start a header line of its own.
    private static func appendField(_ out: inout [UInt8], _ name: String, _ value: String) {
        appendSanitized(&out, name)
        out.append(contentsOf: ": ".utf8)
        appendSanitized(&out, value)
        out.append(contentsOf: "\r\n".utf8)
    }

    private static func appendSanitized(_ out: inout [UInt8], _ text: String) {
        let start = out.count
        out.append(contentsOf: text.utf8)
        // Bulk copy first, then patch: values almost never contain these bytes.
        for i in start..<out.count where out[i] == 0x0D || out[i] == 0x0A || out[i] == 0x00 {
            out[i] = UInt8(ascii: " ")
        }
    }

    /// The standard reason phrase, or a generic one for the status class (clients ignore it anyway).
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 413: "Payload Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 426: "Upgrade Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        case 100..<200: "Informational"
        case 200..<300: "Success"
        case 300..<400: "Redirection"
        case 400..<500: "Client Error"
        case 500..<600: "Server Error"
        default: "Unknown"
        }
    }
}

/// A response can be thrown or used as a `Result` failure: handlers that decide early on an error answer
/// (`Result<Connection, HTTPResponse>`) return it that way.
extension HTTPResponse: Error {}

/// IMF-fixdate formatting for the `Date` header (RFC 9110 5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
/// Pure arithmetic on the Unix time: no locale, no Foundation.
enum HTTPDate {
    /// The current second, formatted once per second per process (every response asks for it).
    static func now() -> [UInt8] {
        let second = Int(time(nil))
        return cache.withLock { cached in
            if cached.second != second {
                cached = (second, format(secondsSince1970: second))
            }
            return cached.bytes
        }
    }

    private static let cache = Mutex<(second: Int, bytes: [UInt8])>((-1, []))

    static func format(secondsSince1970 seconds: Int) -> [UInt8] {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - days * 86400
        let (year, month, day) = civilDate(daysSince1970: days)
        // 1970-01-01 was a Thursday.
        let weekday = ((days % 7) + 7 + 4) % 7
        let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

        var out: [UInt8] = []
        out.reserveCapacity(29)
        out.append(contentsOf: dayNames[weekday].utf8)
        out.append(contentsOf: ", ".utf8)
        appendDigits(&out, day, width: 2)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: monthNames[month - 1].utf8)
        out.append(UInt8(ascii: " "))
        appendDigits(&out, year, width: 4)
        out.append(UInt8(ascii: " "))
        appendDigits(&out, secondOfDay / 3600, width: 2)
        out.append(UInt8(ascii: ":"))
        appendDigits(&out, secondOfDay / 60 % 60, width: 2)
        out.append(UInt8(ascii: ":"))
        appendDigits(&out, secondOfDay % 60, width: 2)
        out.append(contentsOf: " GMT".utf8)
        return out
    }

    /// Gregorian (year, month, day) for a day count since 1970-01-01, counting in 400-year eras that start
    /// on March 1st so the leap day falls at the end of each year.
    private static func civilDate(daysSince1970: Int) -> (Int, Int, Int) {
        let z = daysSince1970 + 719_468  // days since 0000-03-01
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func appendDigits(_ out: inout [UInt8], _ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}
