import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import NetKit
import Testing

@testable import SignalRMesh

/// A second in nanoseconds.
private let s: UInt64 = 1_000_000_000

/// The endpoint's heartbeat through real ``SignalRConnection``s (in-memory transports, the tick's time injected):
/// it ticks only the connections that are due, and the handshake timeout, keep-alive Pings and the client timeout
/// still come at their second.
@Suite(.serialized) struct HubHeartbeatTests {
    typealias Fixture = StatefulReconnectTests.Fixture

    @Test func idleConnectionsAreTickedOnlyWhenDueAndTheirTimeoutsComeOnTime() throws {
        let f = try Fixture { $0.statefulReconnect = false }  // 15 s handshake and keep-alive, 30 s client timeout
        let n = 200
        let start = f.on { f.bench.loop.now }
        var transports: [MemoryTransport] = []
        for _ in 0..<n {
            let t = try f.connect(f.negotiate("negotiateVersion=1").token).get()
            f.on { t.receive(#"{"protocol":"json","version":1}"#) }
            transports.append(t)
        }
        // Three that never shake hands.
        var silent: [MemoryTransport] = []
        for _ in 0..<3 { silent.append(try f.connect(f.negotiate("negotiateVersion=1").token).get()) }
        let ready = f.on { f.bench.loop.now }
        // Every start, receipt and send was in [start, ready]; the margins below need that to be under a second.
        try #require(ready - start < s / 2)
        #expect(f.on { f.endpoint.active.count } == n)
        #expect(f.on { f.endpoint.scheduledCount } == n + 3)

        func tick(_ now: UInt64) -> Int {
            f.on {
                f.endpoint.tick(now: now)
                return f.endpoint.lastTickVisits
            }
        }
        func pings(_ t: MemoryTransport) -> Int { f.on { t.messages.filter { $0 == #"{"type":6}"# }.count } }

        // Nothing due for 15 s: no connection is touched.
        for second in UInt64(1)...14 { #expect(tick(ready + second * s) == 0) }
        #expect(tick(start + 15 * s - 1) == 0)
        #expect(pings(transports[0]) == 0)
        // 15 s: every open connection gets its Ping, the three silent ones their handshake timeout.
        #expect(tick(ready + 15 * s) == n + 3)
        #expect(transports.allSatisfy { pings($0) == 1 })
        #expect(f.on { silent.allSatisfy { $0.closed && $0.messages == [#"{"error":"Handshake was canceled."}"#] } })
        #expect(f.on { f.endpoint.connectionCount } == n)

        // Half the clients speak (a Ping), later than `ready`; the other half stay silent.
        let talkers = transports[..<(n / 2)]
        // In one loop turn: one time for all (the loop's clock moves between turns).
        let spoke = f.on {
            for t in talkers { t.receive(#"{"type":6}"#) }
            return f.bench.loop.now
        }
        try #require(spoke > ready && spoke - ready < s / 2)
        for second in UInt64(16)...29 { #expect(tick(ready + second * s) == 0) }
        #expect(tick(start + 30 * s - 1) == 0)
        // 30 s: all due (the Ping sent at `ready + 15 s` was the last send); the silent half time out, the
        // talkers get their second Ping.
        #expect(tick(ready + 30 * s) == n)
        #expect(talkers.allSatisfy { pings($0) == 2 })
        #expect(f.on { talkers.allSatisfy { !$0.closed } })
        let closeMessage = #"{"type":7,"allowReconnect":true}"#
        #expect(f.on { transports[(n / 2)...].allSatisfy { $0.closed && $0.messages.last == closeMessage } })
        #expect(f.on { f.endpoint.active.count } == n / 2)
        #expect(f.on { f.endpoint.scheduledCount } == n / 2)
        // The talkers time out 30 s after they spoke, not before.
        #expect(tick(spoke + 30 * s - 1) == 0)
        #expect(tick(spoke + 30 * s) == n / 2)
        #expect(f.on { talkers.allSatisfy { $0.closed && $0.messages.last == closeMessage } })
        #expect(f.on { f.endpoint.connectionCount } == 0)
        #expect(f.on { f.endpoint.scheduledCount } == 0)
    }

    @Test func aStatefulConnectionIsTickedEverySecondAndItsDisconnectTimeoutComesOnTime() throws {
        let f = try Fixture { $0.disconnectTimeout = 3 }
        let (_, t) = try StatefulReconnectTests.statefulClient(f)
        let now = f.on { f.bench.loop.now }
        #expect(f.on { f.endpoint.tick(now: now + 1 * s); return f.endpoint.lastTickVisits } == 1)
        #expect(f.on { f.endpoint.tick(now: now + 2 * s); return f.endpoint.lastTickVisits } == 1)
        let dropped = f.on {
            t.drop()
            return f.bench.loop.now  // the connection's detachedAt: same loop turn
        }
        // Away: only its disconnect timeout is due.
        #expect(f.on { f.endpoint.tick(now: dropped + 2 * s); return f.endpoint.lastTickVisits } == 0)
        #expect(f.on { f.endpoint.tick(now: dropped + 3 * s - 1); return f.endpoint.lastTickVisits } == 0)
        #expect(f.connection != nil)
        #expect(f.on { f.endpoint.tick(now: dropped + 3 * s); return f.endpoint.lastTickVisits } == 1)
        #expect(f.connection == nil)
        #expect(f.on { f.endpoint.scheduledCount } == 0)
    }

    /// Over a real WebSocket: the parser's buffers go back a quiet second after a read (the heartbeat comes then,
    /// though the connection's other deadlines are 15 s away), not before.
    @Test func aWebSocketsParserBuffersGoBackAQuietSecondAfterARead() throws {
        let (bench, server, port) = try HTTPTransportsTests.chatServer()
        defer { bench.run { server.shutdown() } }
        let endpoint = bench.run { server.endpoints[0] }
        let client = RawClient(port: port)
        defer { client.close() }
        client.send(
            "GET /chatHub HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(client.read(until: "\r\n\r\n").hasPrefix("HTTP/1.1 101"))
        func sendText(_ text: String) {
            var frame: [UInt8] = []
            WebSocketFrameEncoder.encode(.text, payload: Array(text.utf8) + [0x1E], maskKey: [1, 2, 3, 4], into: &frame)
            _ = frame.withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, 0) }
        }
        sendText(#"{"protocol":"json","version":1}"#)
        client.read(until: "{}")
        func session() -> WebSocketSession? {
            bench.run { endpoint.active.values.first?.transport as? WebSocketSession }
        }
        func wait(_ what: String, _ condition: @escaping () -> Bool) {
            let deadline = Date().addingTimeInterval(5)
            while !bench.run(condition) {
                if Date() > deadline { Issue.record("timed out waiting for \(what)"); return }
                Thread.sleep(forTimeInterval: 0.002)
            }
        }
        wait("the handshake") { endpoint.active.count == 1 }
        let ws = try #require(session())
        #expect(bench.run { !ws.holdsParserBuffers })  // released after the handshake's read
        sendText(#"{"type":6}"#)
        wait("the Ping's read") { ws.holdsParserBuffers }
        let read = bench.run { endpoint.active.values.first!.lastReceivedForTests }
        #expect(bench.run { endpoint.tick(now: read + s - 1); return endpoint.lastTickVisits } == 0)
        #expect(bench.run { ws.holdsParserBuffers })
        #expect(bench.run { endpoint.tick(now: read + s); return endpoint.lastTickVisits } == 1)
        #expect(bench.run { !ws.holdsParserBuffers })
        // Released: nothing more until the keep-alive.
        #expect(bench.run { endpoint.tick(now: read + 2 * s); return endpoint.lastTickVisits } == 0)
    }
}
