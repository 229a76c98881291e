import Foundation
import NetKit
import Synchronization
import Testing

@testable import SignalRMesh

/// A transport in memory: records the hub-protocol bytes it is given, and lets a test play the client.
final class MemoryTransport: HubTransport, @unchecked Sendable {
    let loop: EventLoop
    var kind: TransportKind { .webSockets }
    var supportsBinary: Bool { true }
    var hasInherentKeepAlive: Bool { false }
    private weak var handler: (any HubTransportHandler)?
    private(set) var sent: [UInt8] = []
    private(set) var closed = false
    var closedByClient = false

    init(loop: EventLoop) { self.loop = loop }

    func start(handler: any HubTransportHandler, leftover: [UInt8]) {
        self.handler = handler
        if !leftover.isEmpty { leftover.withUnsafeBytes { handler.transportReceived($0) } }
    }

    func send(_ bytes: [UInt8], format: TransferFormat) {
        if !closed { sent += bytes }
    }

    func send(_ message: OutgoingMessage, kind: HubProtocolKind) {
        if !closed { message.withPayload(kind) { sent += $0 } }
    }

    func close() { closed = true }

    /// The client sends these hub-protocol bytes (JSON texts, each gets its 0x1E); a read, as a socket's is.
    func receive(_ texts: String...) {
        var bytes: [UInt8] = []
        for text in texts { bytes += Array(text.utf8) + [0x1E] }
        handler?.transportActivity()
        bytes.withUnsafeBytes { handler?.transportReceived($0) }
    }

    /// The socket is gone (no Close frame unless `byClient`).
    func drop(byClient: Bool = false) {
        closedByClient = byClient
        closed = true
        handler?.transportClosed()
    }

    /// Everything sent, split at 0x1E (the handshake answer `{}` included).
    var messages: [String] {
        sent.split(separator: 0x1E, omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Stateful reconnect through a real ``HubEndpoint`` and ``SignalRConnection`` on a loop, with in-memory
/// transports: a drop keeps the connection, broadcasts made meanwhile are kept, the same `id` re-attaches and gets
/// `Sequence` + every unacked message, and the disconnect timeout ends it.
@Suite(.serialized) struct StatefulReconnectTests {
    final class Fixture: @unchecked Sendable {
        let bench: RouterBench
        let endpoint: HubEndpoint

        init(options: (inout ServerOptions) -> Void = { _ in }) throws {
            bench = try RouterBench(replicas: ["a"])
            var o = ServerOptions(nodeId: "a")
            options(&o)
            let (bench, router, opts) = (bench, bench.routers["a"]!, o)
            endpoint = bench.run {
                HubEndpoint(
                    hub: DemoHub.make(), options: opts, router: router, loop: bench.loop,
                    authenticator: HubAuthenticator(validator: nil, userIdProvider: DefaultUserIdProvider()),
                    throttledLog: ThrottledLog(clock: { 0 }))
            }
        }

        /// The status a WebSocket request for `token` is refused with (nil: accepted).
        func refusal(_ token: String) -> Int? {
            if case .failure(let r) = connect(token) { return r.status }
            return nil
        }

        /// Negotiates (v1) and returns the body and the token.
        func negotiate(_ query: String = "negotiateVersion=1&useStatefulReconnect=true") -> (body: String, token: String) {
            let endpoint = self.endpoint
            let response = bench.run {
                endpoint.negotiate(HTTPRequest(method: "POST", target: "/demoHub/negotiate?" + query), source: "127.0.0.1", now: 0)
            }
            let body = String(decoding: response.body, as: UTF8.self)
            let json = try? JSONParser.parse(response.body)
            guard case .string(let token)? = json?["connectionToken"] ?? json?["connectionId"] else { return (body, "") }
            return (body, token)
        }

        struct Refused: Error, Equatable { let status: Int }

        /// A WebSocket request for `token`: the transport, or the refusal's status.
        func connect(_ token: String) -> Result<MemoryTransport, Refused> {
            let endpoint = self.endpoint
            let loop = bench.loop
            return bench.run {
                switch endpoint.claimForWebSocket(HTTPRequest(method: "GET", target: "/demoHub?id=" + token), now: loop.now) {
                case .failure(let response):
                    return .failure(Refused(status: response.status))
                case .success(let record):
                    let transport = MemoryTransport(loop: loop)
                    endpoint.accept(record: record, transport: transport, leftover: [], now: loop.now)
                    return .success(transport)
                }
            }
        }

        func on<R>(_ body: @escaping () -> R) -> R { bench.run(body) }

        /// Broadcasts `AllMessage(text)` to the hub, as a hub method on any replica would.
        func broadcast(_ text: String) {
            let router = bench.routers["a"]!
            bench.run {
                let message = OutgoingMessage(.invocation(InvocationMessage(target: "AllMessage", arguments: [.string(text)])))
                router.send(message, hub: "DemoHub", to: .all)
            }
            bench.settle()
        }

        /// The hub's one connection (off the loop: don't use it inside ``on(_:)`` or ``wait(_:_:)``).
        var connection: SignalRConnection? { on { self.endpoint.active.values.first } }

        /// Waits (with a deadline) until `condition` holds on the loop.
        func wait(_ what: String, _ condition: @escaping () -> Bool) {
            let deadline = Date().addingTimeInterval(5)
            while !on(condition) {
                if Date() > deadline {
                    Issue.record("timed out waiting for \(what)")
                    return
                }
                Thread.sleep(forTimeInterval: 0.002)
            }
        }
    }

    static func allMessage(_ text: String) -> String { #"{"type":1,"target":"AllMessage","arguments":["\#(text)"]}"# }

    /// The texts of `AllMessage` broadcasts in what a transport received.
    static func broadcasts(_ t: MemoryTransport) -> [String] {
        t.messages.compactMap { text -> String? in
            guard let m = try? JSONHubProtocol.parse(Array(text.utf8)), case .invocation(let inv) = m,
                inv.target == "AllMessage", case .string(let s)? = inv.arguments.first
            else { return nil }
            return s
        }
    }

    /// Negotiates with stateful reconnect, connects and shakes hands with protocol version 2.
    static func statefulClient(_ f: Fixture) throws -> (token: String, transport: MemoryTransport) {
        let (body, token) = f.negotiate()
        #expect(body.contains(#""useStatefulReconnect":true"#))
        let t = try f.connect(token).get()
        f.on { t.receive(#"{"protocol":"json","version":2}"#) }
        f.wait("the handshake") { f.endpoint.active.count == 1 }
        return (token, t)
    }

    @Test func negotiateGrantsStatefulReconnectOnlyWhenAskedAndAllowed() throws {
        let f = try Fixture()
        #expect(f.negotiate().body.hasSuffix(#","useStatefulReconnect":true}"#))
        #expect(f.negotiate("negotiateVersion=1&USESTATEFULRECONNECT=True").body.contains("useStatefulReconnect"))
        #expect(f.negotiate("negotiateVersion=1&useStatefulReconnect=%20true%20").body.contains("useStatefulReconnect"))
        #expect(!f.negotiate("negotiateVersion=1").body.contains("useStatefulReconnect"))
        #expect(!f.negotiate("negotiateVersion=1&useStatefulReconnect=false").body.contains("useStatefulReconnect"))
        #expect(!f.negotiate("negotiateVersion=1&useStatefulReconnect=1").body.contains("useStatefulReconnect"))
        let off = try Fixture { $0.statefulReconnect = false }
        #expect(!off.negotiate().body.contains("useStatefulReconnect"))
        let token = off.negotiate().token
        #expect(off.on { off.endpoint.connections.lookup(token: token)?.useStatefulReconnect } == false)
    }

    @Test func aDroppedWebSocketComesBackWithSequenceAndEveryUnackedMessage() throws {
        let f = try Fixture()
        let (token, t1) = try Self.statefulClient(f)
        for i in 1...3 { f.broadcast("m\(i)") }
        f.wait("three broadcasts") { Self.broadcasts(t1).count == 3 }
        #expect(t1.messages.first == "{}")
        f.on { t1.receive(#"{"type":8,"sequenceId":1}"#) }
        f.on { t1.drop() }
        // Still there, waiting for its client; broadcasts made meanwhile are kept.
        #expect(f.connection?.detachedAt != nil)
        for i in 4...5 { f.broadcast("m\(i)") }
        f.wait("five tracked messages") { f.endpoint.active.values.first?.stateful?.totalSent == 5 }
        #expect(Self.broadcasts(t1) == ["m1", "m2", "m3"])

        let t2 = try f.connect(token).get()
        // No handshake answer: Sequence{2}, then messages 2…5 in order, then what comes next.
        #expect(f.on { t2.messages.first } == #"{"type":9,"sequenceId":2}"#)
        #expect(f.on { Self.broadcasts(t2) } == ["m2", "m3", "m4", "m5"])
        f.broadcast("m6")
        f.wait("m6") { Self.broadcasts(t2).last == "m6" }
        // The client's own Sequence, then an invocation: it is processed once, and acked on the next tick.
        f.on { t2.receive(#"{"type":9,"sequenceId":1}"#, #"{"type":1,"invocationId":"7","target":"Echo","arguments":["hi"]}"#) }
        f.wait("the Echo completion") { t2.messages.contains(#"{"type":3,"invocationId":"7","result":"hi"}"#) }
        f.on { f.endpoint.tick(now: f.bench.loop.now) }
        #expect(f.on { t2.messages.last } == #"{"type":8,"sequenceId":1}"#)
        // The same invocation resent after another drop (the client never saw our Ack) is a duplicate.
        f.on { t2.drop() }
        let t3 = try f.connect(token).get()
        f.on { t3.receive(#"{"type":9,"sequenceId":1}"#, #"{"type":1,"invocationId":"7","target":"Echo","arguments":["hi"]}"#) }
        f.on { t3.receive(#"{"type":1,"invocationId":"8","target":"Echo","arguments":["again"]}"#) }
        f.wait("the second Echo") { t3.messages.contains(#"{"type":3,"invocationId":"8","result":"again"}"#) }
        // 7's Completion once (replayed: the client hadn't acked it), 8's once: 7 wasn't run again.
        #expect(f.on { t3.messages.filter { $0 == #"{"type":3,"invocationId":"7","result":"hi"}"# } }.count == 1)
        #expect(f.on { t3.messages.filter { $0.contains(#""type":3"#) } }.count == 2)
    }

    @Test func aSecondWebSocketTakesOverAnAttachedStatefulConnection() throws {
        let f = try Fixture()
        let (token, t1) = try Self.statefulClient(f)
        f.broadcast("a")
        f.wait("a") { Self.broadcasts(t1) == ["a"] }
        let t2 = try f.connect(token).get()
        #expect(f.on { t1.closed })
        #expect(f.on { t2.messages } == [#"{"type":9,"sequenceId":1}"#, Self.allMessage("a")])
        // The replaced transport's late events don't reach the connection.
        f.on { t1.drop() }
        #expect(f.connection?.detachedAt == nil)
        f.broadcast("b")
        f.wait("b on the new transport") { Self.broadcasts(t2) == ["a", "b"] }
        #expect(Self.broadcasts(t1) == ["a"])
    }

    @Test func theDisconnectTimeoutEndsTheConnectionAndItsTokenThenGives404() throws {
        let f = try Fixture { $0.disconnectTimeout = 3 }
        let (token, t1) = try Self.statefulClient(f)
        f.on { t1.drop() }
        let now = f.on { f.bench.loop.now }
        f.on { f.endpoint.tick(now: now + 2_900_000_000) }
        #expect(f.connection != nil)
        f.on { f.endpoint.tick(now: now + 3_100_000_000) }
        #expect(f.connection == nil)
        #expect(f.on { f.bench.routers["a"]!.hub("DemoHub").count } == 0)
        #expect(f.refusal(token) == 404)
    }

    @Test func aFullBufferWhileTheClientIsAwayEndsTheConnection() throws {
        let f = try Fixture { $0.statefulReconnectBufferSize = 200 }
        let (token, t1) = try Self.statefulClient(f)
        f.on { t1.drop() }
        f.broadcast(String(repeating: "x", count: 100))
        #expect(f.connection != nil)
        f.broadcast(String(repeating: "y", count: 100))
        #expect(f.connection == nil)
        #expect(f.refusal(token) == 404)
    }

    @Test func aFullBufferWhileAttachedKeepsSendingAndRecoversWhenAcked() throws {
        // Each broadcast below is about 150 bytes: two fit in 350.
        let f = try Fixture { $0.statefulReconnectBufferSize = 350 }
        let (token, t1) = try Self.statefulClient(f)
        for i in 1...3 { f.broadcast(String(repeating: "\(i)", count: 100)) }
        f.wait("three broadcasts") { Self.broadcasts(t1).count == 3 }
        #expect(f.connection?.stateful?.canReplay == false)  // 3 was sent but not kept
        f.on { t1.receive(#"{"type":8,"sequenceId":2}"#) }
        #expect(f.connection?.stateful?.canReplay == false)
        f.on { t1.receive(#"{"type":8,"sequenceId":3}"#) }
        #expect(f.connection?.stateful?.canReplay == true)
        f.broadcast(String(repeating: "4", count: 100))
        f.on { t1.drop() }
        let t2 = try f.connect(token).get()
        #expect(f.on { t2.messages.first } == #"{"type":9,"sequenceId":4}"#)
        #expect(f.on { Self.broadcasts(t2) } == [String(repeating: "4", count: 100)])
        // A drop while a message is missing from the buffer can't be repaired: the connection ends.
        for i in 5...6 { f.broadcast(String(repeating: "\(i)", count: 100)) }
        #expect(f.connection?.stateful?.canReplay == false)
        f.on { t2.drop() }
        #expect(f.connection == nil)
        #expect(f.refusal(token) == 404)
    }

    @Test func aSequenceGapClosesWithASPNETsError() throws {
        let f = try Fixture { $0.detailedErrors = true }
        let (_, t1) = try Self.statefulClient(f)
        f.on { t1.receive(#"{"type":9,"sequenceId":5}"#) }
        #expect(f.on { t1.messages.last } == #"{"type":7,"error":"Connection closed with an error. InvalidOperationException: Sequence ID greater than amount of messages we've received.","allowReconnect":true}"#)
        #expect(f.on { t1.closed })
        #expect(f.connection == nil)
    }

    @Test func withoutStatefulReconnectADropEndsTheConnectionAndASecondSocketGets409() throws {
        let f = try Fixture()
        let token = f.negotiate("negotiateVersion=1").token
        let t1 = try f.connect(token).get()
        f.on { t1.receive(#"{"protocol":"json","version":1}"#) }
        f.wait("the handshake") { f.endpoint.active.count == 1 }
        #expect(f.refusal(token) == 409)
        f.broadcast("a")
        f.wait("a") { Self.broadcasts(t1) == ["a"] }
        f.on { f.endpoint.tick(now: f.bench.loop.now + 2_000_000_000) }
        #expect(!f.on { t1.messages.contains { $0.contains(#""type":8"#) } })  // no Acks
        #expect(f.connection?.stateful == nil)
        f.on { t1.drop() }
        #expect(f.connection == nil)
    }

    @Test func handshakeVersion1TurnsStatefulReconnectOff() throws {
        let f = try Fixture()
        let (_, token) = f.negotiate()
        let t1 = try f.connect(token).get()
        f.on { t1.receive(#"{"protocol":"json","version":1}"#) }
        f.wait("the handshake") { f.endpoint.active.count == 1 }
        #expect(f.connection?.stateful == nil)
        #expect(f.refusal(token) == 409)
        f.on { t1.drop() }
        #expect(f.connection == nil)
    }

    @Test func aWebSocketCloseFromTheClientEndsAStatefulConnection() throws {
        let f = try Fixture()
        let (token, t1) = try Self.statefulClient(f)
        f.on { t1.drop(byClient: true) }
        #expect(f.connection == nil)
        #expect(f.refusal(token) == 404)
    }
}
