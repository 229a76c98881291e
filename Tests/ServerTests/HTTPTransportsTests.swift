import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import NetKit
import Synchronization
import Testing

@testable import SignalRMesh

/// A poll answer recorded on the loop.
final class RecordingResponder: LongPollResponder, @unchecked Sendable {
    struct Answer: Equatable {
        var status: Int
        var contentType: String?
        var body: String
    }
    var answers: [Answer] = []
    var onGone: (() -> Void)?

    func respond(status: Int, contentType: String?, body: [UInt8]) {
        answers.append(Answer(status: status, contentType: contentType, body: String(decoding: body, as: UTF8.self)))
    }
}

/// Server-Sent Events and long polling at the endpoint (no sockets; an injected clock) and end to end through
/// a real socket: status codes and texts of signalr-protocol.md 1.4–1.6, supersede, timeouts, DELETE, the buffer
/// cap, SSE framing.
@Suite struct HTTPTransportsTests {
    static let second: UInt64 = 1_000_000_000
    static let handshake = "{\"protocol\":\"json\",\"version\":1}\u{1E}"

    final class Fixture: @unchecked Sendable {
        let bench: RouterBench
        let endpoint: HubEndpoint
        /// The injected clock: read and moved on the loop only.
        var time: UInt64 = 0

        init(options: ServerOptions = ServerOptions(nodeId: "a")) throws {
            bench = try RouterBench(replicas: ["a"])
            let router = bench.routers["a"]!
            let bench = self.bench
            endpoint = bench.run {
                HubEndpoint(hub: ChatHub.make(), options: options, router: router, loop: bench.loop,
                    authenticator: HubAuthenticator(validator: nil, userIdProvider: DefaultUserIdProvider()),
                    throttledLog: ThrottledLog(clock: { 0 }))
            }
            bench.run { self.endpoint.clock = { [weak self] in self?.time ?? 0 } }
        }

        func negotiate() -> String {
            let response = bench.run { self.endpoint.negotiate(HTTPRequest(method: "POST", target: "/chatHub/negotiate?negotiateVersion=1"), source: "t", now: 0) }
            let json = try! JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any]
            return json["connectionToken"] as! String
        }

        func poll(_ token: String?) -> RecordingResponder {
            let r = RecordingResponder()
            bench.run { self.endpoint.poll(token: token, user: nil, responder: r, now: self.bench.loop.now) }
            return r
        }

        func send(_ token: String?, _ text: String) -> HubEndpoint.TextAnswer {
            bench.run { self.endpoint.send(token: token, body: Array(text.utf8), now: self.bench.loop.now) }
        }

        func delete(_ token: String?) -> HubEndpoint.TextAnswer {
            bench.run { self.endpoint.delete(token: token, now: 0) }
        }

        func answers(_ r: RecordingResponder) -> [RecordingResponder.Answer] { bench.run { r.answers } }

        /// Waits (with a deadline) until `r` has `count` answers; loop turns run the batched flushes.
        func waitAnswers(_ r: RecordingResponder, _ count: Int) -> [RecordingResponder.Answer] {
            let end = Date().addingTimeInterval(5)
            while Date() < end {
                bench.settle()
                let a = answers(r)
                if a.count >= count { return a }
                usleep(1000)
            }
            return answers(r)
        }

        func advance(_ nanos: UInt64) {
            bench.run {
                self.time += nanos
                self.endpoint.tick(now: self.bench.loop.now)
            }
        }
    }

    typealias Answer = RecordingResponder.Answer
    static let started = Answer(status: 200, contentType: "application/octet-stream", body: "")
    static let noContent = Answer(status: 204, contentType: nil, body: "")

    @Test func errorsBeforeAnyTransport() throws {
        let f = try Fixture()
        #expect(f.answers(f.poll(nil)) == [Answer(status: 400, contentType: "text/plain", body: "Connection ID required")])
        #expect(f.answers(f.poll("nope")) == [Answer(status: 404, contentType: "text/plain", body: "No Connection with that ID")])
        #expect(f.send(nil, "x") == .init(status: 400, text: "Connection ID required"))
        #expect(f.send("nope", "x") == .init(status: 404, text: "No Connection with that ID"))
        #expect(f.delete("nope") == .init(status: 404, text: "No Connection with that ID"))
        let token = f.negotiate()
        #expect(f.delete(token) == .init(status: 400, text: "Cannot terminate this connection using the DELETE endpoint."))
    }

    @Test func longPollingHandshakeMessagesSupersedeAndDelete() throws {
        let f = try Fixture()
        let token = f.negotiate()
        #expect(f.answers(f.poll(token)) == [Self.started])
        let second = f.poll(token)
        #expect(f.answers(second).isEmpty)
        #expect(f.send(token, Self.handshake) == .init(status: 200, text: ""))
        #expect(f.waitAnswers(second, 1) == [Answer(status: 200, contentType: "application/octet-stream", body: "{}\u{1E}")])
        // A broadcast and its echo: both messages in one poll answer if they were queued before the poll came.
        #expect(f.send(token, #"{"type":1,"target":"SendMessage","arguments":["a","1"]}"# + "\u{1E}" + #"{"type":1,"target":"SendMessage","arguments":["a","2"]}"# + "\u{1E}").status == 200)
        f.bench.settle()
        let third = f.poll(token)
        let body = f.waitAnswers(third, 1).first?.body ?? ""
        #expect(body.components(separatedBy: "\u{1E}").filter { !$0.isEmpty }.count == 2)
        // Supersede: the older poll gets 204.
        let fourth = f.poll(token)
        let fifth = f.poll(token)
        #expect(f.answers(fourth) == [Self.noContent])
        #expect(f.answers(fifth).isEmpty)
        // A WebSocket or SSE request for it now: 400.
        let ws = f.bench.run { f.endpoint.claimForWebSocket(HTTPRequest(method: "GET", target: "/chatHub?id=" + token), now: 0) }
        if case .failure(let r) = ws { #expect(r.status == 400 && r.body == Array("Cannot change transports mid-connection".utf8)) } else { Issue.record("claimed") }
        // DELETE: 202, the waiting poll 204, the connection is gone from the hub, later polls 204, POST 404.
        #expect(f.delete(token) == .init(status: 202, text: ""))
        #expect(f.answers(fifth) == [Self.noContent])
        #expect(f.bench.run { f.endpoint.connectionCount } == 0)
        #expect(f.answers(f.poll(token)) == [Self.noContent])
        #expect(f.send(token, "{\"type\":6}\u{1E}").status == 404)
        // Forgotten after the disconnect timeout: an unknown id then.
        f.advance(16 * Self.second)
        #expect(f.answers(f.poll(token)).first?.status == 404)
    }

    @Test func pollTimeoutAndInactivityUseTheInjectedClock() throws {
        var options = ServerOptions(nodeId: "a")
        options.longPollTimeout = 90
        options.disconnectTimeout = 15
        let f = try Fixture(options: options)
        let token = f.negotiate()
        _ = f.poll(token)
        _ = f.send(token, Self.handshake)
        _ = f.waitAnswers(f.poll(token), 1)
        let waiting = f.poll(token)
        f.advance(89 * Self.second)
        #expect(f.answers(waiting).isEmpty)
        f.advance(1 * Self.second)
        #expect(f.answers(waiting) == [Answer(status: 200, contentType: "text/plain", body: "")])
        #expect(f.bench.run { f.endpoint.active.count } == 1)
        f.advance(15 * Self.second)
        #expect(f.bench.run { f.endpoint.active.count } == 0)
        #expect(f.bench.run { f.endpoint.longPolls.isEmpty })
    }

    @Test func aSendBeforeTheFirstPollStartsLongPolling() throws {
        let f = try Fixture()
        let token = f.negotiate()
        #expect(f.send(token, Self.handshake).status == 200)
        #expect(f.answers(f.poll(token)) == [Self.started])
        #expect(f.waitAnswers(f.poll(token), 1).first?.body == "{}\u{1E}")
    }

    @Test func theOutgoingBufferIsBounded() throws {
        var options = ServerOptions(nodeId: "a")
        options.maxPendingBytesPerConnection = 4096
        let f = try Fixture(options: options)
        let token = f.negotiate()
        _ = f.poll(token)
        _ = f.send(token, Self.handshake)
        f.bench.settle()
        // Nobody polls: echoes of 100-byte messages pile up until the cap closes the connection.
        let text = String(repeating: "x", count: 100)
        for _ in 0..<60 { _ = f.send(token, #"{"type":1,"target":"SendMessage","arguments":["u",""# + text + #""]}"# + "\u{1E}") }
        f.bench.settle()
        #expect(f.bench.run { f.endpoint.active.count } == 0)
        #expect(f.bench.run { f.endpoint.longPolls[token]?.bufferedBytes ?? -1 } == 0)
        #expect(f.answers(f.poll(token)) == [Self.noContent])
    }

    @Test func serverSentEventsRefusals() throws {
        var options = ServerOptions(nodeId: "a")
        let f = try Fixture(options: options)
        let token = f.negotiate()
        func claim(_ target: String) -> (Int, String) {
            f.bench.run {
                switch f.endpoint.claimForEventStream(HTTPRequest(method: "GET", target: target), user: nil) {
                case .success: return (200, "")
                case .failure(let r): return (r.status, String(decoding: r.body, as: UTF8.self))
                }
            }
        }
        #expect(claim("/chatHub") == (400, "Connection ID required"))
        #expect(claim("/chatHub?id=x") == (404, "No Connection with that ID"))
        #expect(claim("/chatHub?id=" + token) == (200, ""))
        #expect(claim("/chatHub?id=" + token) == (409, ""))
        #expect(f.answers(f.poll(token)).first == Answer(status: 400, contentType: "text/plain", body: "Cannot change transports mid-connection"))
        // A transport that isn't offered: 404 with ASP.NET's text, and not listed by negotiate.
        options.transports = ["WebSockets"]
        let g = try Fixture(options: options)
        let t2 = g.negotiate()
        let sse = g.bench.run { g.endpoint.claimForEventStream(HTTPRequest(method: "GET", target: "/chatHub?id=" + t2), user: nil) }
        if case .failure(let r) = sse {
            #expect(r.status == 404 && String(decoding: r.body, as: UTF8.self) == "ServerSentEvents transport not supported by this end point type")
        } else {
            Issue.record("claimed")
        }
        #expect(g.answers(g.poll(t2)).first?.body == "LongPolling transport not supported by this end point type")
        #expect(g.bench.run { g.endpoint.transports } == [.webSockets])
    }

    @Test func serverSentEventFraming() {
        func event(_ s: String) -> String {
            String(decoding: Array(s.utf8).withUnsafeBytes { ServerSentEvents.event($0) }, as: UTF8.self)
        }
        #expect(event("{}\u{1E}") == "data: {}\u{1E}\r\n\r\n")
        #expect(event("a\nb") == "data: a\r\ndata: b\r\n\r\n")
        #expect(event("a\r\nb\r\n") == "data: a\r\ndata: b\r\n\r\n")
        #expect(event("a\n\nb") == "data: a\r\ndata: \r\ndata: b\r\n\r\n")
        #expect(event("") == "data: \r\n\r\n")
        // A lone CR ends a line for EventSource: left inside a data line it would end the event early (found by the
        // `sse` fuzz target: "\r\r9\n" made "data: \r\r9", whose second CR is a blank line).
        #expect(event("\r\r9\n") == "data: \r\ndata: \r\ndata: 9\r\n\r\n")
        #expect(event("a\rb") == "data: a\r\ndata: b\r\n\r\n")
        let head = String(decoding: ServerSentEventsTransport.responseHead(extra: [], requestVersion: .http1_1), as: UTF8.self)
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache,no-store\r\nPragma: no-cache\r\nContent-Encoding: identity\r\n"))
        #expect(!head.contains("Content-Length") && head.contains("Connection: close\r\n") && head.hasSuffix("\r\n\r\n"))
    }
}

/// A blocking loopback client for end-to-end tests: reads with a deadline, never a bare sleep.
final class RawClient {
    let fd: Int32
    private(set) var received: [UInt8] = []

    init(port: UInt16) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var tv = timeval(tv_sec: 0, tv_usec: 20_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Reads until the text received so far contains `needle` `count` times, or 5 s pass.
    @discardableResult
    func read(until needle: String, count: Int = 1) -> String {
        let end = Date().addingTimeInterval(5)
        var buf = [UInt8](repeating: 0, count: 65536)
        while Date() < end {
            if text.components(separatedBy: needle).count - 1 >= count { break }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += buf[0..<n] } else if n == 0 { break }
        }
        return text
    }

    var text: String { String(decoding: received, as: UTF8.self) }

    func close() { Glibc.close(fd) }
}

extension HTTPTransportsTests {
    /// A replica's HTTP server with the chat hub on a loopback port (shut it down on its bench's loop).
    static func chatServer() throws -> (bench: RouterBench, server: HTTPServer, port: UInt16) {
        let bench = try RouterBench(replicas: ["a"])
        let router = bench.routers["a"]!
        let (server, port) = bench.run { () -> (HTTPServer, UInt16) in
            let server = HTTPServer(loop: bench.loop, options: ServerOptions(nodeId: "a"))
            server.addHub(ChatHub.make(), router: router,
                authenticator: HubAuthenticator(validator: nil, userIdProvider: DefaultUserIdProvider()))
            let address = try! server.start(address: try! SocketAddress(host: "127.0.0.1", port: 0))
            return (server, address.port)
        }
        return (bench, server, port)
    }

    @Test func endToEndThroughASocket() throws {
        let (bench, server, port) = try Self.chatServer()
        defer { bench.run { server.shutdown() } }
        let endpoint = bench.run { server.endpoints[0] }
        let host = "Host: 127.0.0.1\r\n"

        let a = RawClient(port: port)
        defer { a.close() }
        a.send("POST /chatHub/negotiate?negotiateVersion=1 HTTP/1.1\r\n\(host)Content-Length: 0\r\n\r\n")
        let negotiated = a.read(until: "}")
        let token = negotiated.components(separatedBy: "\"connectionToken\":\"").last!.components(separatedBy: "\"").first!
        #expect(negotiated.contains("\"LongPolling\"") && negotiated.contains("\"ServerSentEvents\""))

        // Two polls and a negotiate pipelined: the first poll returns at once, the second waits, and the
        // negotiate behind it waits for it.
        let poll = "GET /chatHub?id=\(token) HTTP/1.1\r\n\(host)\r\n"
        a.send(poll + poll + "POST /chatHub/negotiate HTTP/1.1\r\n\(host)Content-Length: 0\r\n\r\n")
        a.read(until: "HTTP/1.1", count: 2)
        #expect(a.text.components(separatedBy: "HTTP/1.1 200").count - 1 == 2)
        #expect(!a.text.contains("\"negotiateVersion\":0"))
        #expect(a.text.contains("Content-Type: application/octet-stream") && a.text.contains("Expires: Thu, 01 Jan 1970 00:00:00 GMT"))

        let b = RawClient(port: port)
        defer { b.close() }
        let handshake = HTTPTransportsTests.handshake
        b.send("POST /chatHub?id=\(token) HTTP/1.1\r\n\(host)Content-Length: \(handshake.utf8.count)\r\n\r\n\(handshake)")
        #expect(b.read(until: "\r\n\r\n").hasPrefix("HTTP/1.1 200"))
        let all = a.read(until: "\"negotiateVersion\":0")
        let handshakeAt = all.range(of: "{}\u{1E}")
        let negotiateAt = all.range(of: "\"negotiateVersion\":0")
        #expect(handshakeAt != nil && negotiateAt != nil && handshakeAt!.lowerBound < negotiateAt!.lowerBound)

        // A poll whose socket closes is released: no poll is outstanding afterwards.
        let c = RawClient(port: port)
        c.send(poll)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline && !bench.run({ endpoint.longPolls[token]?.hasPendingPoll ?? false }) { usleep(1000) }
        #expect(bench.run { endpoint.longPolls[token]?.hasPendingPoll ?? false })
        c.close()
        while Date() < deadline && bench.run({ endpoint.longPolls[token]?.hasPendingPoll ?? true }) { usleep(1000) }
        #expect(bench.run { endpoint.longPolls[token]?.hasPendingPoll } == false)

        // Server-Sent Events: the head and the comment, then one event per message; closing the socket ends it.
        b.send("POST /chatHub/negotiate?negotiateVersion=1 HTTP/1.1\r\n\(host)Content-Length: 0\r\n\r\n")
        let second = b.read(until: "}", count: 2)
        let sseToken = second.components(separatedBy: "\"connectionToken\":\"").last!.components(separatedBy: "\"").first!
        let s = RawClient(port: port)
        s.send("GET /chatHub?id=\(sseToken) HTTP/1.1\r\n\(host)Accept: text/event-stream\r\n\r\n")
        #expect(s.read(until: ":\r\n").hasSuffix("\r\n\r\n:\r\n"))
        #expect(s.text.contains("Content-Type: text/event-stream") && !s.text.contains("Content-Length"))
        b.send("POST /chatHub?id=\(sseToken) HTTP/1.1\r\n\(host)Content-Length: \(handshake.utf8.count)\r\n\r\n\(handshake)")
        #expect(s.read(until: "data: {}\u{1E}\r\n\r\n").hasSuffix("data: {}\u{1E}\r\n\r\n"))
        #expect(bench.run { endpoint.eventStreams[sseToken] != nil })
        s.close()
        while Date() < deadline && bench.run({ endpoint.eventStreams[sseToken] != nil }) { usleep(1000) }
        #expect(bench.run { endpoint.eventStreams[sseToken] == nil })
    }
}
