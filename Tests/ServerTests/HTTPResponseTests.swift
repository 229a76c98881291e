import Foundation
import Testing

@testable import SignalRMesh

private let fixedDate = Array("Sun, 06 Nov 1994 08:49:37 GMT".utf8)

private func wire(
    _ response: HTTPResponse, keepAlive: Bool = true, headOnly: Bool = false, version: HTTPVersion = .http1_1
) -> String {
    String(
        decoding: response.serialize(keepAlive: keepAlive, headOnly: headOnly, requestVersion: version, date: fixedDate),
        as: UTF8.self)
}

@Suite("HTTP response")
struct HTTPResponseTests {
    @Test func textResponseExactBytes() {
        let text = wire(.text(404, "No Connection with that ID"))
        #expect(
            text == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nServer: SignalRMesh\r\n"
                + "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 26\r\n\r\nNo Connection with that ID")
    }

    @Test func jsonResponse() {
        let response = HTTPResponse.json(200, Array(#"{"a":1}"#.utf8))
        #expect(response.headers["content-type"] == "application/json")
        let text = wire(response)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("\r\nContent-Length: 7\r\n"))
        #expect(text.hasSuffix("\r\n\r\n{\"a\":1}"))
        #expect(!text.contains("Connection"))
    }

    @Test func closeReplacesConnectionHeader() {
        var response = HTTPResponse.text(200, "bye")
        response.headers.add("Connection", "keep-alive")
        let text = wire(response, keepAlive: false)
        #expect(text.contains("\r\nConnection: close\r\n"))
        #expect(!text.contains("keep-alive"))
        #expect(text.components(separatedBy: "Connection:").count == 2)
    }

    @Test func http10KeepAliveIsExplicit() {
        let text = wire(.text(200, "x"), version: .http1_0)
        #expect(text.contains("\r\nConnection: keep-alive\r\n"))
        #expect(wire(.text(200, "x"), keepAlive: false, version: .http1_0).contains("\r\nConnection: close\r\n"))
    }

    @Test func headOnlyKeepsLengthDropsBody() {
        let text = wire(.text(200, "hello"), headOnly: true)
        #expect(text.contains("\r\nContent-Length: 5\r\n"))
        #expect(text.hasSuffix("\r\n\r\n"))
        #expect(!text.contains("hello"))
    }

    @Test(arguments: [101, 204, 304, 100])
    func noContentLengthWhereNoBodyIsAllowed(status: Int) {
        let response = HTTPResponse(status: status, headers: HTTPHeaders([("Upgrade", "websocket")]), body: Array("x".utf8))
        let text = wire(response)
        #expect(!text.contains("Content-Length"))
        #expect(text.hasSuffix("\r\n\r\n"))
    }

    @Test func switchingProtocols() {
        let response = HTTPResponse(
            status: 101,
            headers: HTTPHeaders([
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ]))
        let text = wire(response)
        #expect(text.hasPrefix("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"))
        #expect(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
    }

    @Test func handlerFramingIsRespected() {
        let streamed = HTTPResponse(status: 200, headers: HTTPHeaders([("Transfer-Encoding", "chunked")]))
        #expect(!wire(streamed).contains("Content-Length"))
        let explicit = HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Length", "0")]), body: [])
        #expect(wire(explicit).components(separatedBy: "Content-Length").count == 2)
        let own = HTTPResponse(status: 200, headers: HTTPHeaders([("Server", "x"), ("Date", "d")]))
        #expect(!wire(own).contains("SignalRMesh"))
        #expect(!wire(own).contains("GMT"))
    }

    @Test func headerInjectionIsNeutralised() {
        let response = HTTPResponse(
            status: 200, headers: HTTPHeaders([("Access-Control-Allow-Origin", "http://a\r\nSet-Cookie: x=1")]))
        let text = wire(response)
        #expect(text.contains("Access-Control-Allow-Origin: http://a  Set-Cookie: x=1\r\n"))
        #expect(!text.contains("\r\nSet-Cookie"))
    }

    @Test func parseErrorResponse() {
        let response = HTTPResponse.parseError(.headersTooLarge)
        #expect(response.status == 431)
        #expect(String(decoding: response.body, as: UTF8.self) == "Request Header Fields Too Large")
        #expect(wire(response, keepAlive: false).hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
    }

    @Test func reasonPhrases() {
        #expect(HTTPResponse.reasonPhrase(200) == "OK")
        #expect(HTTPResponse.reasonPhrase(405) == "Method Not Allowed")
        #expect(HTTPResponse.reasonPhrase(409) == "Conflict")
        #expect(HTTPResponse.reasonPhrase(413) == "Payload Too Large")
        #expect(HTTPResponse.reasonPhrase(418) == "Client Error")
        #expect(HTTPResponse.reasonPhrase(999) == "Unknown")
    }

    @Test func knownDates() {
        func date(_ seconds: Int) -> String { String(decoding: HTTPDate.format(secondsSince1970: seconds), as: UTF8.self) }
        #expect(date(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(date(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(date(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(date(4_107_542_399) == "Sun, 28 Feb 2100 23:59:59 GMT")
        #expect(date(4_107_542_400) == "Mon, 01 Mar 2100 00:00:00 GMT")
    }

    @Test func datesMatchTheCLibrary() {
        var generator = SystemRandomNumberGenerator()
        let samples = (0..<2000).map { _ in Int.random(in: 0...8_000_000_000, using: &generator) } + [86_399, 86_400, 1_709_164_800]
        for seconds in samples {
            var t = time_t(seconds)
            var parts = tm()
            gmtime_r(&t, &parts)
            var buffer = [CChar](repeating: 0, count: 64)
            let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
            let expected = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let ours = String(decoding: HTTPDate.format(secondsSince1970: seconds), as: UTF8.self)
            if ours != expected {
                Issue.record("\(seconds): \(ours) != \(expected)")
                return
            }
        }
    }

    @Test func liveDateLooksRight() {
        let now = String(decoding: HTTPDate.now(), as: UTF8.self)
        #expect(now.utf8.count == 29)
        #expect(now.hasSuffix(" GMT"))
        let text = String(decoding: HTTPResponse(status: 200).serialize(keepAlive: true), as: UTF8.self)
        #expect(text.contains("\r\nDate: \(now.prefix(16))"))  // same day, whatever the second
    }

    @Test func parserReadsWhatTheWriterWrote() throws {
        // The writer's framing, read back by our own parser after turning the status line into a request line.
        var bytes = HTTPResponse.text(200, "ok").serialize(keepAlive: true)
        let statusLine = Array("HTTP/1.1 200 OK".utf8)
        #expect(Array(bytes[..<statusLine.count]) == statusLine)
        bytes.replaceSubrange(0..<statusLine.count, with: Array("POST / HTTP/1.1\r\nHost: h".utf8))
        var parser = HTTPRequestParser()
        parser.append(bytes)
        let request = try #require(try parser.nextRequest())
        #expect(request.body == Array("ok".utf8))
        #expect(request.headers["server"] == "SignalRMesh")
    }
}
