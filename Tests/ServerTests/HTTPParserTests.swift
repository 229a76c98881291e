import Testing

@testable import SignalRMesh

// MARK: - Helpers (fileprivate: other test files in this target have their own)

/// Everything a parser run produced: the requests in order, then the error that stopped it (if any).
private struct ParseRun: Equatable, CustomStringConvertible {
    var requests: [HTTPRequest] = []
    var error: HTTPParseError?
    /// How many times `takeExpectContinue()` said yes.
    var continues = 0

    var description: String {
        "\(requests.count) requests \(requests.map { "\($0.method) \($0.target) body=\($0.body.count)" }), error: \(String(describing: error)), continues: \(continues)"
    }
}

/// Feeds `chunks` one after the other, draining every complete request after each append, as a
/// connection would.
private func run(_ chunks: [[UInt8]], limits: HTTPParserLimits = .init()) -> ParseRun {
    var parser = HTTPRequestParser(limits: limits)
    var result = ParseRun()
    for chunk in chunks {
        parser.append(chunk)
        do {
            while let request = try parser.nextRequest() { result.requests.append(request) }
            if parser.takeExpectContinue() { result.continues += 1 }
        } catch let error as HTTPParseError {
            result.error = error
            return result
        } catch {
            Issue.record("unexpected error type \(error)")
            return result
        }
    }
    return result
}

private func run(_ text: String, limits: HTTPParserLimits = .init()) -> ParseRun {
    run([Array(text.utf8)], limits: limits)
}

/// Checks that `input` parses the same whether it arrives whole, split in two at every position, or one
/// byte at a time; returns the whole-buffer result. (Expect-continue counts are left out of the comparison:
/// whether a body was still missing when the head completed legitimately depends on the split.)
private func verifySplits(
    _ input: [UInt8], limits: HTTPParserLimits = .init(), sourceLocation: SourceLocation = #_sourceLocation
) -> ParseRun {
    expectSameForEverySplit(input, sourceLocation: sourceLocation) { chunks in
        var result = run(chunks, limits: limits)
        result.continues = 0
        return result
    }
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

// MARK: - Tests

@Suite("HTTP request parser")
struct HTTPParserTests {
    @Test func simpleGet() throws {
        let result = run("GET /chatHub/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: localhost:5000\r\nUser-Agent: t\r\n\r\n")
        #expect(result.error == nil)
        let request = try #require(result.requests.first)
        #expect(result.requests.count == 1)
        #expect(request.method == "GET")
        #expect(request.target == "/chatHub/negotiate?negotiateVersion=1")
        #expect(request.path == "/chatHub/negotiate")
        #expect(request.queryValue("negotiateVersion") == "1")
        #expect(request.version == HTTPVersion(major: 1, minor: 1))
        #expect(request.headers["host"] == "localhost:5000")
        #expect(request.headers.count == 2)
        #expect(request.body.isEmpty)
        #expect(request.keepAlive)
        #expect(!request.isWebSocketUpgrade)
    }

    @Test func queryDecodingAndCaseInsensitiveLookup() throws {
        let result = run("GET /a%20b/c%2Fd?NegotiateVersion=1&msg=x+y%20z&flag&&bad=%zz%4&id=%E2%9C%93 HTTP/1.1\r\nHost: h\r\n\r\n")
        let request = try #require(result.requests.first)
        #expect(request.path == "/a b/c/d")
        #expect(request.query.map { $0.0 } == ["NegotiateVersion", "msg", "flag", "bad", "id"])
        #expect(request.query.map { $0.1 } == ["1", "x y z", "", "%zz%4", "✓"])
        #expect(request.queryValue("negotiateversion") == "1")
        #expect(request.queryValue("NEGOTIATEVERSION") == "1")
        #expect(request.queryValue("missing") == nil)
    }

    @Test func targetForms() throws {
        let absolute = run("GET http://example.com:8080/chatHub?id=7 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(absolute.requests.first?.path == "/chatHub")
        #expect(absolute.requests.first?.queryValue("id") == "7")
        let bare = run("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(bare.requests.first?.path == "/")
        let asterisk = run("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(asterisk.requests.first?.path == "*")
        // A plus in the path is a plus; only the query reads it as a space.
        let plus = run("GET /a+b?q=a+b HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(plus.requests.first?.path == "/a+b")
        #expect(plus.requests.first?.queryValue("q") == "a b")
    }

    @Test func methodIsCaseSensitiveAndKeptAsSent() throws {
        let result = run("get / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        let request = try #require(result.requests.first)
        #expect(request.method == "get")
        #expect(!request.isWebSocketUpgrade)
    }

    @Test func headerValuesAreTrimmedAndOrdered() throws {
        let result = run("GET / HTTP/1.1\r\nHost:h\r\nX-A: \t one two \t\r\nx-a: three\r\nEmpty:\r\n\r\n")
        let request = try #require(result.requests.first)
        #expect(request.headers["x-A"] == "one two")
        #expect(request.headers.values("X-A") == ["one two", "three"])
        #expect(request.headers["empty"] == "")
        #expect(request.headers.map { $0.name } == ["Host", "X-A", "x-a", "Empty"])
    }

    @Test func contentLengthBody() throws {
        let result = run("POST /chatHub?id=abc HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
        let request = try #require(result.requests.first)
        #expect(request.body == bytes("hello world"))
        #expect(request.queryValue("ID") == "abc")
    }

    @Test func hostForms() {
        for host in ["localhost", "localhost:5000", "127.0.0.1:80", "[::1]:8080", "xn--bcher-kva.example", ""] {
            #expect(run("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n").requests.count == 1, "\(host)")
        }
        // HTTP/1.0 needs no Host.
        #expect(run("GET / HTTP/1.0\r\n\r\n").requests.count == 1)
    }

    @Test func repeatedIdenticalContentLengthIsAccepted() throws {
        let result = run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc")
        #expect(result.error == nil)
        #expect(result.requests.first?.body == bytes("abc"))
    }

    @Test func pipelinedRequestsComeOutOneAtATime() throws {
        var parser = HTTPRequestParser()
        parser.append(
            bytes(
                "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: h\r\n\r\nGET /4 HT"
            ))
        #expect(try parser.nextRequest()?.path == "/1")
        let second = try parser.nextRequest()
        #expect(second?.path == "/2")
        #expect(second?.body == bytes("hi"))
        #expect(try parser.nextRequest()?.path == "/3")
        #expect(try parser.nextRequest() == nil)
        #expect(parser.hasPartialRequest)
        parser.append(bytes("TP/1.1\r\nHost: h\r\n\r\n"))
        #expect(try parser.nextRequest()?.path == "/4")
        #expect(try parser.nextRequest() == nil)
        #expect(!parser.hasPartialRequest)
    }

    @Test func everySplitGivesTheSameRequests() throws {
        let input = bytes(
            "\r\nGET /chatHub?id=1&x=a+b HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"
                + "POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde"
                + "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "4;ext=1\r\nWiki\r\n5 \r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n"
                + "GET /lf HTTP/1.1\nHost: h\n\n"
                + "GET /old HTTP/1.0\r\n\r\n"
                + "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        let result = verifySplits(input)
        #expect(result.error == nil)
        #expect(result.requests.map(\.path) == ["/chatHub", "/send", "/chunked", "/lf", "/old", "/ws"])
        #expect(result.requests[1].body == bytes("abcde"))
        #expect(result.requests[2].body == bytes("Wikipedia in\r\n\r\nchunks."))
        #expect(result.requests[4].version == .http1_0)
        #expect(!result.requests[4].keepAlive)
        #expect(result.requests[5].isWebSocketUpgrade)
    }

    @Test func everySplitGivesTheSameError() {
        let inputs = [
            "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nBad : v\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789012345678901234567890123456789\r\n\r\n",
            "GET /0123456789012345678901234567890123456789 HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n",
        ]
        let limits = HTTPParserLimits(maxRequestLineBytes: 40, maxHeaderBytes: 48, maxHeaderCount: 4, maxBodyBytes: 50)
        let expected: [HTTPParseError] = [
            .badRequest("whitespace before colon in header"), .badRequest("chunk data longer than its declared size"),
            .badRequest("invalid chunk size"), .headersTooLarge, .uriTooLong, .payloadTooLarge,
        ]
        for (input, error) in zip(inputs, expected) {
            let result = verifySplits(bytes(input), limits: limits)
            #expect(result.error == error, "\(input.debugDescription)")
        }
    }

    @Test(arguments: [
        // request line
        ("GARBAGE\r\n\r\n", HTTPParseError.badRequest("malformed request line")),
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET / http/1.1\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET / HTTP/11\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        (" GET / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET /\u{7F} HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET /é HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", .badRequest("malformed request line")),
        ("GET /\r\n\r\n", .badRequest("malformed request line")),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", .versionNotSupported),
        ("GET / HTTP/1.2\r\nHost: h\r\n\r\n", .versionNotSupported),
        ("GET / HTTP/0.9\r\nHost: h\r\n\r\n", .versionNotSupported),
        ("GET abc HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("invalid request target")),
        ("GET ftp://x/ HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("invalid request target")),
        ("GET *x HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest("invalid request target")),
        (
            "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            .badRequest("too many empty lines before the request line")
        ),
        // header fields
        ("GET / HTTP/1.1\r\n\r\n", .badRequest("missing Host header")),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", .badRequest("multiple Host headers")),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", .badRequest("invalid Host header")),
        ("GET / HTTP/1.1\r\nHost: evil.com/x\r\n\r\n", .badRequest("invalid Host header")),
        ("GET / HTTP/1.1\r\nHost: u@evil.com\r\n\r\n", .badRequest("invalid Host header")),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .badRequest("whitespace before colon in header")),
        ("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", .badRequest("whitespace before colon in header")),
        ("GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n  c\r\n\r\n", .badRequest("obsolete header line folding")),
        ("GET / HTTP/1.1\r\n Host: h\r\n\r\n", .badRequest("obsolete header line folding")),
        ("GET / HTTP/1.1\r\nHost h\r\n\r\n", .badRequest("header line without a colon")),
        ("GET / HTTP/1.1\r\n: h\r\nHost: h\r\n\r\n", .badRequest("empty header name")),
        ("GET / HTTP/1.1\r\nX(a): h\r\nHost: h\r\n\r\n", .badRequest("invalid character in header name")),
        ("GET / HTTP/1.1\r\nX Y: h\r\nHost: h\r\n\r\n", .badRequest("invalid character in header name")),
        ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", .badRequest("invalid character in header value")),
        ("GET / HTTP/1.1\r\nHost: a\u{0}b\r\n\r\n", .badRequest("invalid character in header value")),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: \r\r\n\r\n", .badRequest("invalid character in header value")),
        // framing
        (
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
            .badRequest("both Transfer-Encoding and Content-Length")
        ),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            .badRequest("conflicting Content-Length headers")
        ),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd", .badRequest("conflicting Content-Length values")),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", .badRequest("invalid Content-Length")),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", .badRequest("invalid Content-Length")),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", .badRequest("invalid Content-Length")),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", .badRequest("invalid Content-Length")),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", .badRequest("invalid Content-Length")),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", .badRequest("invalid Content-Length")),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n", .payloadTooLarge),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n", .payloadTooLarge),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", .notImplemented("unsupported Transfer-Encoding")),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            .notImplemented("unsupported Transfer-Encoding")
        ),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            .notImplemented("unsupported Transfer-Encoding")
        ),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", .notImplemented("unsupported Transfer-Encoding")),
        (
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            .badRequest("Transfer-Encoding in an HTTP/1.0 request")
        ),
        // chunked bodies
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", .badRequest("invalid chunk size")),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", .badRequest("invalid chunk size")),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", .badRequest("invalid chunk size")),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\n", .badRequest("invalid chunk size")),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a\u{0}\r\n", .badRequest("invalid chunk extension")),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", .badRequest("chunk data longer than its declared size")),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX", .badRequest("malformed chunk")),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", .payloadTooLarge),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n", .payloadTooLarge),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n",
            .badRequest("invalid character in header name")
        ),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTrailer : x\r\n\r\n",
            .badRequest("whitespace before colon in header")
        ),
    ])
    func errorCases(input: String, expected: HTTPParseError) {
        let whole = run(input)
        #expect(whole.error == expected, "\(input.debugDescription)")
        #expect(whole.requests.isEmpty)
        let single = run(Array(input.utf8).map { [$0] })
        #expect(single.error == expected, "byte at a time: \(input.debugDescription)")
    }

    @Test func errorStatusesAndMessages() {
        #expect(HTTPParseError.badRequest("malformed request line").status == 400)
        #expect(HTTPParseError.badRequest("malformed request line").message == "Bad Request: malformed request line")
        #expect(HTTPParseError.uriTooLong.status == 414)
        #expect(HTTPParseError.headersTooLarge.status == 431)
        #expect(HTTPParseError.payloadTooLarge.status == 413)
        #expect(HTTPParseError.notImplemented("x").status == 501)
        #expect(HTTPParseError.versionNotSupported.status == 505)
        #expect(!HTTPParseError.headersTooLarge.message.isEmpty)
    }

    @Test func requestLineLimit() {
        let limits = HTTPParserLimits(maxRequestLineBytes: 32)
        // Exactly at the limit is fine (32 bytes without CRLF).
        let atLimit = "GET /" + String(repeating: "a", count: 18) + " HTTP/1.1"
        #expect(atLimit.utf8.count == 32)
        #expect(run(atLimit + "\r\nHost: h\r\n\r\n", limits: limits).requests.count == 1)
        let over = "GET /" + String(repeating: "a", count: 19) + " HTTP/1.1"
        #expect(run(over + "\r\nHost: h\r\n\r\n", limits: limits).error == .uriTooLong)
        // Without any line end yet: fails as soon as the limit is crossed.
        #expect(run("GET /" + String(repeating: "a", count: 28), limits: limits).error == .uriTooLong)
        #expect(run("GET /" + String(repeating: "a", count: 27), limits: limits).error == nil)
        // A CR that may begin the CRLF doesn't count.
        #expect(run(atLimit + "\r", limits: limits).error == nil)
    }

    @Test func hugeHeaderFailsAsSoonAsTheLimitIsCrossed() {
        var parser = HTTPRequestParser()
        parser.append(bytes("GET / HTTP/1.1\r\nHost: h\r\nX-Big: "))
        let kilobyte = [UInt8](repeating: UInt8(ascii: "a"), count: 1024)
        var failedAfter: Int?
        for index in 1...1024 {  // up to 1 MiB, never a line end
            parser.append(kilobyte)
            do {
                _ = try parser.nextRequest()
            } catch {
                #expect(error as? HTTPParseError == .headersTooLarge)
                failedAfter = index
                break
            }
        }
        // 32 KiB limit: fails on the 32nd kilobyte, not at the end.
        #expect(failedAfter == 32)
    }

    @Test func headerSectionAndCountLimits() {
        let limits = HTTPParserLimits(maxHeaderBytes: 64, maxHeaderCount: 3)
        #expect(run("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits).requests.count == 1)
        #expect(run("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits).error == .headersTooLarge)
        let long = "GET / HTTP/1.1\r\nHost: h\r\nA: " + String(repeating: "x", count: 60) + "\r\n\r\n"
        #expect(run(long, limits: limits).error == .headersTooLarge)
        // Many small header lines over the byte budget, each under it.
        var many = "GET / HTTP/1.1\r\n"
        for i in 0..<200 { many += "X-\(i): v\r\n" }
        #expect(run(many + "Host: h\r\n\r\n").requests.count == 0)
        #expect(run(many + "Host: h\r\n\r\n").error == .headersTooLarge)
    }

    @Test func bodyLimitIsCheckedWhenContentLengthArrives() {
        let limits = HTTPParserLimits(maxBodyBytes: 10)
        #expect(run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits).requests.count == 1)
        // The head isn't finished: the verdict comes from the Content-Length line alone.
        #expect(run("POST / HTTP/1.1\r\nContent-Length: 11\r\n", limits: limits).error == .payloadTooLarge)
        // Chunked: the running total is what counts.
        let chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n6\r\n"
        #expect(run(chunked, limits: limits).error == .payloadTooLarge)
        let fits = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"
        #expect(run(fits, limits: limits).requests.first?.body == bytes("0123456789"))
    }

    @Test func trailerSectionIsLimited() {
        let limits = HTTPParserLimits(maxHeaderBytes: 40)
        let input =
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + String(repeating: "x", count: 40)
        #expect(run(input, limits: limits).error == .headersTooLarge)
    }

    @Test func failedParserStaysFailed() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("BAD\r\n"))
        #expect(throws: HTTPParseError.badRequest("malformed request line")) { try parser.nextRequest() }
        parser.append(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(throws: HTTPParseError.badRequest("malformed request line")) { try parser.nextRequest() }
        #expect(!parser.hasPartialRequest)
    }

    @Test func expectContinue() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("POST /send HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n"))
        #expect(try parser.nextRequest() == nil)
        #expect(parser.takeExpectContinue() == true)
        #expect(parser.takeExpectContinue() == false)  // only once
        parser.append(bytes("da"))
        #expect(try parser.nextRequest() == nil)
        #expect(parser.takeExpectContinue() == false)
        parser.append(bytes("ta"))
        #expect(try parser.nextRequest()?.body == bytes("data"))
        #expect(parser.takeExpectContinue() == false)

        // Body already here: nothing to ask for.
        var eager = HTTPRequestParser()
        eager.append(bytes("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"))
        #expect(try eager.nextRequest()?.body == bytes("ok"))
        #expect(eager.takeExpectContinue() == false)

        // No body at all: nothing to ask for either.
        var empty = HTTPRequestParser()
        empty.append(bytes("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"))
        #expect(try empty.nextRequest() != nil)
        #expect(empty.takeExpectContinue() == false)

        // Chunked.
        var chunked = HTTPRequestParser()
        chunked.append(bytes("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"))
        #expect(try chunked.nextRequest() == nil)
        #expect(chunked.takeExpectContinue() == true)
        chunked.append(bytes("2\r\nok\r\n0\r\n\r\n"))
        #expect(try chunked.nextRequest()?.body == bytes("ok"))

        // HTTP/1.0 clients don't know 100 Continue.
        var old = HTTPRequestParser()
        old.append(bytes("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"))
        #expect(try old.nextRequest() == nil)
        #expect(old.takeExpectContinue() == false)

        // A flag not taken before the request completes doesn't leak into the next one.
        var untaken = HTTPRequestParser()
        untaken.append(bytes("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"))
        #expect(try untaken.nextRequest() == nil)
        untaken.append(bytes("ok"))
        #expect(try untaken.nextRequest() != nil)
        #expect(untaken.takeExpectContinue() == false)
    }

    @Test func bufferedBytesAfterUpgrade() throws {
        let head =
            "GET /chatHub?id=x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let frames: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58, 0x0D, 0x0A, 0x0D, 0x0A]
        let input = bytes(head) + frames
        for cut in 0...input.count {
            var parser = HTTPRequestParser()
            parser.append(Array(input[..<cut]))
            var request = try parser.nextRequest()
            if request == nil {
                parser.append(Array(input[cut...]))
                request = try parser.nextRequest()
                #expect(parser.takeBufferedBytes() == frames, "cut \(cut)")
            } else {
                parser.append(Array(input[cut...]))
                #expect(parser.takeBufferedBytes() == frames, "cut \(cut)")
            }
            #expect(request?.isWebSocketUpgrade == true)
            #expect(request?.queryValue("id") == "x")
            #expect(parser.takeBufferedBytes().isEmpty)
        }
    }

    @Test func keepAliveRules() {
        func keepAlive(_ version: String, _ connection: String?) -> Bool? {
            let header = connection.map { "Connection: \($0)\r\n" } ?? ""
            return run("GET / \(version)\r\nHost: h\r\n\(header)\r\n").requests.first?.keepAlive
        }
        #expect(keepAlive("HTTP/1.1", nil) == true)
        #expect(keepAlive("HTTP/1.1", "close") == false)
        #expect(keepAlive("HTTP/1.1", "Upgrade, Close") == false)
        #expect(keepAlive("HTTP/1.1", "keep-alive") == true)
        #expect(keepAlive("HTTP/1.0", nil) == false)
        #expect(keepAlive("HTTP/1.0", "Keep-Alive") == true)
        #expect(keepAlive("HTTP/1.0", "keep-alive, close") == false)
        #expect(keepAlive("HTTP/1.0", "keep-alive-ish") == false)
    }

    @Test func webSocketUpgradeDetection() {
        func upgrade(_ request: String) -> Bool? { run(request).requests.first?.isWebSocketUpgrade }
        #expect(upgrade("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\n\r\n") == true)
        // Firefox sends both tokens; some clients split them over two lines.
        #expect(upgrade("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n") == true)
        #expect(upgrade("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n\r\n") == true)
        #expect(upgrade("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n") == false)
        #expect(upgrade("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n") == false)
        #expect(upgrade("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n") == false)
        #expect(upgrade("POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n") == false)
        #expect(upgrade("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n") == false)
    }

    @Test func partialRequestTracking() throws {
        var parser = HTTPRequestParser()
        #expect(!parser.hasPartialRequest)
        parser.append(bytes("G"))
        #expect(try parser.nextRequest() == nil)
        #expect(parser.hasPartialRequest)
        parser.append(bytes("ET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n"))
        #expect(try parser.nextRequest() == nil)
        #expect(parser.hasPartialRequest)  // waiting for the body
        parser.append(bytes("x"))
        #expect(try parser.nextRequest() != nil)
        #expect(!parser.hasPartialRequest)
    }

    @Test func leadingEmptyLinesAndBareLineFeeds() throws {
        let result = run("\r\n\nGET /a HTTP/1.1\nHost: h\r\nX: y\n\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(result.error == nil)
        #expect(result.requests.map(\.path) == ["/a", "/b"])
        #expect(result.requests.first?.headers["x"] == "y")
    }

    @Test func largeBodiesAcrossManyAppendsKeepTheBufferCompact() throws {
        var payload: [UInt8] = []
        for i in 0..<200_000 { payload.append(UInt8(truncatingIfNeeded: i &* 31)) }
        var input: [UInt8] = []
        for n in 0..<4 {
            input += bytes("POST /p\(n) HTTP/1.1\r\nHost: h\r\nContent-Length: \(payload.count)\r\n\r\n") + payload
            input += bytes("POST /c\(n) HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            var offset = 0
            while offset < payload.count {
                let size = min(70_000, payload.count - offset)
                input += bytes(String(size, radix: 16) + "\r\n") + payload[offset..<(offset + size)] + bytes("\r\n")
                offset += size
            }
            input += bytes("0\r\n\r\n")
        }
        var chunks: [[UInt8]] = []
        var offset = 0
        var step = 1
        while offset < input.count {
            let size = min(step, input.count - offset)
            chunks.append(Array(input[offset..<(offset + size)]))
            offset += size
            step = step * 3 % 65_521 + 1
        }
        let result = run(chunks)
        #expect(result.error == nil)
        #expect(result.requests.map(\.path) == ["/p0", "/c0", "/p1", "/c1", "/p2", "/c2", "/p3", "/c3"])
        #expect(result.requests.allSatisfy { $0.body == payload })
        #expect(run([input]) == result)
    }

    @Test func compactionKeepsTheUnfinishedLine() throws {
        // A big consumed request followed by half a head: the next append must move the half head to the
        // front of the buffer without losing or duplicating a byte, wherever the head was cut.
        let big = bytes("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 6000\r\n\r\n") + [UInt8](repeating: 0x41, count: 6000)
        let next = bytes("GET /next?q=1 HTTP/1.1\r\nHost: h\r\nX-Long: " + String(repeating: "v", count: 3000) + "\r\n\r\n")
        for cut in [1, 5, 23, 24, 40, 2000, next.count - 1] {
            let result = run([big + next[..<cut], Array(next[cut...])])
            #expect(result.error == nil, "cut \(cut)")
            #expect(result.requests.map(\.path) == ["/big", "/next"], "cut \(cut)")
            #expect(result.requests.last?.headers["x-long"]?.utf8.count == 3000, "cut \(cut)")
        }
    }

    @Test func unsafeRawBufferAppend() throws {
        var parser = HTTPRequestParser()
        let input = bytes("GET /raw HTTP/1.1\r\nHost: h\r\n\r\n")
        input.withUnsafeBytes { parser.append($0) }
        #expect(try parser.nextRequest()?.path == "/raw")
    }

    @Test func handBuiltRequest() {
        let request = HTTPRequest(method: "GET", target: "/hub?ID=5&x=%41", headers: HTTPHeaders([("Host", "h")]))
        #expect(request.path == "/hub")
        #expect(request.queryValue("id") == "5")
        #expect(request.queryValue("x") == "A")
        #expect(request.keepAlive)
    }
}

@Suite("HTTP headers")
struct HTTPHeadersTests {
    @Test func lookupIsCaseInsensitive() {
        var headers = HTTPHeaders([("Content-Type", "text/plain"), ("X-Multi", "a"), ("x-multi", "b")])
        #expect(headers["content-type"] == "text/plain")
        #expect(headers["CONTENT-TYPE"] == "text/plain")
        #expect(headers["Content-Typ"] == nil)
        #expect(headers["Content-Type2"] == nil)
        #expect(headers.values("X-MULTI") == ["a", "b"])
        #expect(headers.count == 3)
        headers.add("Vary", "Origin")
        #expect(headers.count == 4)
        #expect(headers["vary"] == "Origin")
    }

    @Test func replaceOrAdd() {
        var headers = HTTPHeaders([("A", "1"), ("B", "2"), ("a", "3")])
        headers.replaceOrAdd("a", "new")
        #expect(headers.map { "\($0.name)=\($0.value)" } == ["A=new", "B=2"])
        headers.replaceOrAdd("C", "4")
        #expect(headers.map { "\($0.name)=\($0.value)" } == ["A=new", "B=2", "C=4"])
        headers.remove("b")
        #expect(headers.map { $0.name } == ["A", "C"])
    }

    @Test func tokenCharacterSetMatchesTheRFC() {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        for byte in UInt8(0)...UInt8(255) {
            #expect(HTTPSyntax.isTokenChar(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }

    @Test func nameEqualsFoldsOnlyASCIICase() {
        #expect(HTTPSyntax.nameEquals("Content-Length", "content-LENGTH"))
        #expect(!HTTPSyntax.nameEquals("Content-Length", "Content-Lengt"))
        #expect(!HTTPSyntax.nameEquals("a-b", "a\rb"))
        #expect(!HTTPSyntax.nameEquals("[", "{"))  // 0x5B vs 0x7B: not letters, not folded
        #expect(HTTPSyntax.nameEquals("", ""))
        #expect(HTTPSyntax.nameEquals("Straße-Überall", "straße-Überall"))
    }

    @Test func containsToken() {
        let headers = HTTPHeaders([("Connection", "keep-alive,  Upgrade "), ("Accept", "text/event-stream"), ("X", "")])
        #expect(headers.containsToken("connection", "upgrade"))
        #expect(headers.containsToken("Connection", "KEEP-ALIVE"))
        #expect(!headers.containsToken("Connection", "close"))
        #expect(!headers.containsToken("Connection", "keep"))
        #expect(!headers.containsToken("Connection", "upgrade,"))
        #expect(!headers.containsToken("Upgrade", "upgrade"))
        #expect(!headers.containsToken("X", "a"))
        #expect(HTTPHeaders([("Upgrade", "websocket")]).containsToken("upgrade", "WebSocket"))
    }
}
