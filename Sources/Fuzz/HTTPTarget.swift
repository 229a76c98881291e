import Foundation

@testable import NetKit
@testable import SignalRMesh

/// `http`: the HTTP/1.1 request parser, fed the way `HTTPConnection` feeds it, then what the server does with each
/// request before routing (negotiate version, WebSocket upgrade checks, CORS, static file lookup).
///
/// Checks:
/// - the same requests and the same error come out whatever the read boundaries (whole, two pieces, small pieces);
/// - a parsed request, written back out, parses to an equal request (nothing is lost or invented);
/// - a negotiate version resolves to 0 or 1; an accepted upgrade key is 16 bytes of base64;
/// - every response built from request data has a well-formed head (no CR or LF smuggled into a header line);
/// - a resolved static file lies under the served root.
///
/// Flags: bit 0 = tiny parser limits (so every limit is reachable within `-max_len`).
enum HTTPTarget {
    enum Step: Equatable, CustomStringConvertible {
        case request(HTTPRequest)
        case failed(HTTPParseError)
        /// The connection was handed to a WebSocket with these bytes already read.
        case upgraded(leftover: [UInt8])
        /// `Connection: close` (or HTTP/1.0 without keep-alive): the server stops reading.
        case closed

        var description: String {
            switch self {
            case .request(let r): "request(\(r.method) \(r.target) \(r.version) \(r.headers.count) headers, \(r.body.count) body bytes)"
            case .failed(let e): "failed(\(e))"
            case .upgraded(let leftover): "upgraded(\(leftover.count) bytes left over)"
            case .closed: "closed"
            }
        }
    }

    struct Transcript: Equatable, CustomStringConvertible {
        var steps: [Step] = []
        var partial = false
        var description: String { "\(steps) partial=\(partial)" }
    }

    static let tinyLimits = HTTPParserLimits(maxRequestLineBytes: 64, maxHeaderBytes: 256, maxHeaderCount: 8, maxBodyBytes: 128)

    static func run(_ input: FuzzInput) {
        let limits = input.flag(0) ? tinyLimits : HTTPParserLimits()
        let transcript = expectSameForEveryFeed(input) { drive($0, limits: limits) }
        for step in transcript.steps {
            if case .request(let request) = step { checkRequest(request, limits: limits) }
        }
    }

    /// `HTTPConnection.received`: append, then take requests until the parser needs more, fails, or the connection
    /// stops being HTTP.
    static func drive(_ chunks: [[UInt8]], limits: HTTPParserLimits) -> Transcript {
        var parser = HTTPRequestParser(limits: limits)
        var transcript = Transcript()
        for (index, chunk) in chunks.enumerated() {
            parser.append(chunk)
            while true {
                let request: HTTPRequest?
                do {
                    request = try parser.nextRequest()
                } catch let error as HTTPParseError {
                    transcript.steps.append(.failed(error))
                    // A failed parser must stay failed and hold nothing back.
                    do {
                        _ = try parser.nextRequest()
                        fuzzFailure("parser recovered after \(error)")
                    } catch let again {
                        check(again as? HTTPParseError == error, "failed parser threw \(again), then \(error)")
                    }
                    check(!parser.hasPartialRequest, "failed parser reports a partial request")
                    return transcript
                } catch {
                    fuzzFailure("nextRequest threw a non-HTTPParseError: \(error)")
                }
                guard let request else {
                    _ = parser.takeExpectContinue()
                    break
                }
                transcript.steps.append(.request(request))
                if request.isWebSocketUpgrade, case .success = validateUpgrade(request) {
                    var leftover = parser.takeBufferedBytes()
                    for later in chunks[(index + 1)...] { leftover += later }
                    transcript.steps.append(.upgraded(leftover: leftover))
                    return transcript
                }
                if !request.keepAlive {
                    transcript.steps.append(.closed)
                    return transcript
                }
            }
        }
        transcript.partial = parser.hasPartialRequest
        return transcript
    }

    /// `HTTPServer.validateUpgrade`, with the same header lookups.
    static func validateUpgrade(_ request: HTTPRequest) -> Result<String, HandshakeError> {
        WebSocketHandshake.validateRequest(
            method: request.method, versionIsHTTP11: request.version == .http1_1,
            header: { request.headers[$0] },
            tokens: { name in
                request.headers.values(name).flatMap { $0.split(separator: ",") }.map {
                    $0.trimmingCharacters(in: .whitespaces).lowercased()
                }
            })
    }

    // MARK: What the server does with a request

    static let policies: [OriginPolicy] = [
        .loopback, OriginPolicy(allowLoopback: false, allowAny: true, exact: []),
        OriginPolicy(allowLoopback: false, allowAny: false, exact: ["http://app.example.com", "https://[::1]:8443"]),
    ]

    static let date = Array("Thu, 01 Jan 2026 00:00:00 GMT".utf8)

    static func checkRequest(_ request: HTTPRequest, limits: HTTPParserLimits) {
        checkRoundTrip(request, limits: limits)

        switch NegotiateVersion.resolve(request.queryValue("negotiateVersion")) {
        case .success(let version): check((0...NegotiateVersion.maximum).contains(version), "negotiate version \(version)")
        case .failure(let error): checkHead(HTTPResponse.json(200, NegotiateResponse.error(error.message)))
        }
        _ = request.queryValue("id")

        switch validateUpgrade(request) {
        case .success(let key):
            check(Base64.decode(key)?.count == 16, "accepted Sec-WebSocket-Key \(key) is not 16 bytes of base64")
            let response = WebSocketHandshake.response(forKey: key)
            check(response.count > 4 && Array(response.suffix(4)) == Array("\r\n\r\n".utf8), "101 response not terminated")
        case .failure(let error):
            var response = HTTPResponse.text(error.status, error.message)
            for (name, value) in error.headers { response.headers.add(name, value) }
            checkHead(response)
        }

        for policy in policies {
            if CORS.isPreflight(request) { checkHead(CORS.preflightResponse(for: request, policy: policy)) }
            var response = HTTPResponse.text(200, "ok")
            for (name, value) in CORS.responseHeaders(for: request, policy: policy) { response.headers.add(name, value) }
            checkHead(response)
        }

        if let root = staticRoot, let found = StaticFiles(root: root.path).resolve(urlPath: request.path) {
            check(found.path.hasPrefix(root.real + "/"), "static file \(found.path) outside \(root.real) for \(request.path)")
        }
    }

    /// Writes `request` back out (chunked when it came chunked) and parses it again: the result must be equal.
    static func checkRoundTrip(_ request: HTTPRequest, limits: HTTPParserLimits) {
        var head = "\(request.method) \(request.target) \(request.version)\r\n"
        for (name, value) in request.headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if request.headers["Transfer-Encoding"] != nil {
            if !request.body.isEmpty {
                bytes += Array("\(String(request.body.count, radix: 16))\r\n".utf8) + request.body + Array("\r\n".utf8)
            }
            bytes += Array("0\r\n\r\n".utf8)
        } else {
            bytes += request.body
        }
        // Written lines may be longer than received ones ("a:b" comes back as "a: b"): only the sizes are relaxed.
        var relaxed = limits
        relaxed.maxRequestLineBytes = 1 << 20
        relaxed.maxHeaderBytes = 1 << 20
        var parser = HTTPRequestParser(limits: relaxed)
        parser.append(bytes)
        do {
            let again = try parser.nextRequest()
            check(again == request, "round trip changed the request:\n  \(request)\n  \(String(describing: again))")
            check(!parser.hasPartialRequest, "round trip left bytes behind")
        } catch {
            fuzzFailure("a parsed request written back out does not parse: \(error)\n  \(request)")
        }
    }

    /// The head of a serialized response: status line and header lines, each ended by CRLF, no other CR or LF.
    static func checkHead(_ response: HTTPResponse) {
        let bytes = response.serialize(keepAlive: true, headOnly: true, requestVersion: .http1_1, date: date)
        var lines = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\r") || bytes[i] == UInt8(ascii: "\n") {
                check(
                    bytes[i] == UInt8(ascii: "\r") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n"),
                    "bare CR or LF in a response head: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                lines += 1
                i += 2
            } else {
                i += 1
            }
        }
        check(bytes.count >= 4 && Array(bytes.suffix(4)) == Array("\r\n\r\n".utf8), "response head not terminated")
        // Status line, the handler's headers, Server, Date, Content-Length, and the empty line.
        check(lines <= response.headers.count + 5, "response head has \(lines) lines for \(response.headers.count) headers")
    }

    /// A small served directory (index.html, a file, a sub-directory, a symlink pointing outside), made once.
    static let staticRoot: (path: String, real: String)? = {
        var template = Array("/tmp/signalr-fuzz-static.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { return nil }
        let root = String(cString: made)
        atexit { if let root = HTTPTarget.staticRoot { try? FileManager.default.removeItem(atPath: root.path) } }
        let fm = FileManager.default
        try? fm.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: root + "/index.html", contents: Data("<p>hi</p>".utf8))
        _ = fm.createFile(atPath: root + "/app.js", contents: Data("1".utf8))
        _ = fm.createFile(atPath: root + "/sub/index.html", contents: Data("<p>sub</p>".utf8))
        try? fm.createSymbolicLink(atPath: root + "/out", withDestinationPath: "/etc")
        try? fm.createSymbolicLink(atPath: root + "/sub/up", withDestinationPath: "..")
        guard let real = realpath(root, nil) else { return nil }
        defer { free(real) }
        return (root, String(cString: real))
    }()
}
