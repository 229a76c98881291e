import Testing

@testable import SignalRMesh

/// The JSON is written after room for the frame header, which is then filled in: every header size (2, 4 and 10
/// bytes, and the lengths where it changes) must give exactly the frame the encoder builds, and the JSON back.
@Suite struct OutgoingMessageTests {
    @Test(arguments: [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
    func frameIsTheEncodersAndJSONComesBack(_ length: Int) {
        let json = (0..<length).map { UInt8(truncatingIfNeeded: $0 % 251) }
        var expected: [UInt8] = []
        WebSocketFrameEncoder.encode(.text, payload: json, into: &expected)
        let built = OutgoingMessage(capacity: 16) { $0.append(contentsOf: json) }
        #expect(built.webSocketTextFrame == expected)
        #expect(built.withJSON { Array($0) } == json)
        #expect(json.withUnsafeBytes { OutgoingMessage(json: $0) }.webSocketTextFrame == expected)
    }

    /// JSON that can't be read back (a bad backplane message) gives MessagePack recipients an empty payload — no
    /// trap — and the text recipients the bytes as they came.
    @Test func unreadableJSONGivesMessagePackRecipientsNothing() {
        let junk = Array("{\"type\":1,\"target\":".utf8) + [0x1E]
        let message = junk.withUnsafeBytes { OutgoingMessage(json: $0) }
        #expect(message.withPayload(.messagePack) { $0.count } == 0)
        #expect(message.withJSON { Array($0) } == junk)
    }

    /// What a hub's `SendAsync` puts on the wire: the invocation with the replica header, arguments in order.
    @Test func clientProxyWritesArgumentsInPlace() throws {
        let bench = try RouterBench(replicas: ["b"])
        let sink = RecordingSink("conn-1")
        bench.run { bench.routers["b"]!.connected(sink, hub: "ChatHub", user: nil) }
        let proxy = bench.clients("b", hub: "ChatHub").all
        try proxy.send("ReceiveMessage", "al\"ice" as String?, nil as String?, 3)
        try proxy.send("Values", true, [String]())
        bench.settle()
        #expect(sink.texts.count == 2)
        #expect(sink.texts.first == "{\"type\":1,\"headers\":{\"replica\":\"b\"},\"target\":\"ReceiveMessage\",\"arguments\":[\"al\\\"ice\",null,3]}\u{1E}")
        #expect(sink.texts.last == "{\"type\":1,\"headers\":{\"replica\":\"b\"},\"target\":\"Values\",\"arguments\":[true,[]]}\u{1E}")
    }
}

@Suite struct OriginPolicyTests {
    @Test func loopbackByDefault() {
        let p = OriginPolicy.loopback
        #expect(p.allows("http://localhost:4200", requestHost: "127.0.0.1:5001"))
        #expect(p.allows("http://127.0.0.1:8080", requestHost: nil))
        #expect(p.allows("https://[::1]:3000", requestHost: nil))
        #expect(!p.allows("http://evil.example", requestHost: "127.0.0.1:5001"))
        #expect(!p.allows("null", requestHost: nil))
        #expect(!p.allows("http://localhost.evil.example", requestHost: nil))
    }

    @Test func sameOriginIsAlwaysAllowed() throws {
        let p = try OriginPolicy.parse("https://app.example.com")
        #expect(p.allows("http://10.0.0.5:5001", requestHost: "10.0.0.5:5001"))
        #expect(p.allows("http://chat.example.com", requestHost: "chat.example.com"))
        #expect(!p.allows("http://10.0.0.6:5001", requestHost: "10.0.0.5:5001"))
    }

    @Test func exactListAnyAndDefaultPorts() throws {
        let p = try OriginPolicy.parse("https://app.example.com, http://x.test:8080")
        #expect(p.allows("https://app.example.com", requestHost: nil))
        #expect(p.allows("https://APP.example.com:443", requestHost: nil))
        #expect(p.allows("http://x.test:8080", requestHost: nil))
        #expect(!p.allows("http://app.example.com", requestHost: nil))
        #expect(!p.allows("http://localhost:4200", requestHost: nil))  // loopback only when listed
        #expect(try OriginPolicy.parse("loopback,https://a.test").allows("http://localhost:1", requestHost: nil))
        #expect(try OriginPolicy.parse("*").allows("https://anything.example", requestHost: nil))
        #expect(throws: OriginPolicyError.self) { try OriginPolicy.parse("not-an-origin") }
        #expect(throws: OriginPolicyError.self) { try OriginPolicy.parse("ftp://x.test") }
    }
}

@Suite struct CommandLineTests {
    func run(_ args: [String]) throws -> ServerCommandLine {
        guard case .run(let c) = try ServerCommandLine.parse(args) else { throw UsageError("help") }
        return c
    }

    @Test func defaultsAndFlags() throws {
        let c = try run(["--node", "b", "--peers=/tmp/p.json", "--keep-alive", "1.5", "--client-timeout", "3",
                         "--max-message-size", "65536", "--ws-echo", "--log-level", "debug"])
        #expect(c.node == "b" && c.options.nodeId == "b")
        #expect(c.peersPath == "/tmp/p.json")
        #expect(c.options.keepAliveInterval == 1.5 && c.options.clientTimeout == 3)
        #expect(c.options.maxMessageSize == 65536 && c.options.wsEcho)
        #expect(c.logLevel == .debug)
        let d = try run(["--node", "a"])
        #expect(d.peersPath == "peers.json" && d.options.keepAliveInterval == 15 && d.options.clientTimeout == 30)
        #expect(d.options.handshakeTimeout == 15 && d.options.maxMessageSize == 32 * 1024 && d.options.negotiateTimeout == 15)
        #expect(d.options.longPollTimeout == 90 && d.options.disconnectTimeout == 15)
        #expect(d.options.transports == ["WebSockets", "ServerSentEvents", "LongPolling"])
        let t = try run(["--node", "a", "--long-poll-timeout", "5", "--disconnect-timeout=2.5", "--transports", "longpolling, WebSockets"])
        #expect(t.options.longPollTimeout == 5 && t.options.disconnectTimeout == 2.5)
        #expect(t.options.transports == ["LongPolling", "WebSockets"])
        #expect(t != d)
        #expect(d.options.statefulReconnect && d.options.statefulReconnectBufferSize == 100_000 && d.options.disconnectTimeout == 15)
        let s = try run(["--node", "a", "--stateful-reconnect", "OFF", "--stateful-reconnect-buffer=5000", "--disconnect-timeout", "2.5"])
        #expect(!s.options.statefulReconnect && s.options.statefulReconnectBufferSize == 5000 && s.options.disconnectTimeout == 2.5)
        #expect(try run(["--node", "a", "--stateful-reconnect=on"]).options.statefulReconnect)
        #expect(s.options != d.options)
    }

    @Test func helpAndErrors() {
        #expect((try? ServerCommandLine.parse(["--help"])) == .help)
        #expect((try? ServerCommandLine.parse(["--node", "a", "-h"])) == .help)
        let bad: [([String], String)] = [
            ([], "--node ID is required (see --help)"),
            (["--node"], "--node needs a value"),
            (["--node", "a", "--bogus"], "unknown option '--bogus' (see --help)"),
            (["--node", "a", "stray"], "unexpected argument 'stray' (see --help)"),
            (["--node", "a", "--keep-alive", "0"], "--keep-alive takes a number of seconds between 0 and 86400, not '0'"),
            (["--node", "a", "--max-message-size", "12"], "--max-message-size takes bytes between 1024 and 16777216, not '12'"),
            (["--node", "a", "--log-level", "loud"], "--log-level must be one of trace, debug, info, notice, warning, error; got 'loud'"),
            (["--node", "a", "--allowed-origins", "nope"], "--allowed-origins: 'nope' is not an origin like http://host:port"),
            (["--node", "a", "--transports", "Carrier"], "--transports takes WebSockets, ServerSentEvents, LongPolling (comma-separated), not 'Carrier'"),
            (["--node", "a", "--transports", ","], "--transports needs at least one transport"),
            (["--node", "a", "--stateful-reconnect", "yes"], "--stateful-reconnect takes on or off, not 'yes'"),
            (["--node", "a", "--stateful-reconnect-buffer", "0"], "--stateful-reconnect-buffer takes a whole number between 1 and 1073741824, not '0'"),
            (["--node", "a", "--disconnect-timeout", "-1"], "--disconnect-timeout takes a number of seconds between 0 and 86400, not '-1'"),
        ]
        for (args, text) in bad {
            #expect(throws: UsageError(text), "\(args)") { try ServerCommandLine.parse(args) }
        }
    }
}
