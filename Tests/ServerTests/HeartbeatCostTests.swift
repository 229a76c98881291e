import Foundation
import Testing

@testable import SignalRMesh

/// What the heartbeat costs the loop with many idle connections: the old way (every connection ticked every
/// second) against ``HubEndpoint/tick(now:)`` (only the due ones), on the same kind of connections, over 30
/// simulated seconds. A measurement, not a check: it runs only with `HEARTBEAT_COST=<connections>` set, best in a
/// release build (`swift test -c release -Xswiftc -enable-testing --filter HeartbeatCostTests`).
@Suite(.serialized) struct HeartbeatCostTests {
    typealias Fixture = StatefulReconnectTests.Fixture
    static let second: UInt64 = 1_000_000_000
    static let connections = ProcessInfo.processInfo.environment["HEARTBEAT_COST"].flatMap { Int($0) }

    /// `n` connections past their handshake (in-memory transports; clients that never speak, so no client timeout).
    static func idle(_ n: Int) throws -> (Fixture, ready: UInt64) {
        let f = try Fixture {
            $0.statefulReconnect = false
            $0.clientTimeout = 1_000_000
        }
        let ready = f.on { () -> UInt64 in
            let endpoint = f.endpoint
            let loop = f.bench.loop
            for _ in 0..<n {
                let record = endpoint.connections.createClaimed(now: loop.now)
                let t = MemoryTransport(loop: loop)
                endpoint.accept(record: record, transport: t, leftover: [], now: loop.now)
                t.receive(#"{"protocol":"json","version":1}"#)
            }
            return loop.now
        }
        #expect(f.on { f.endpoint.active.count } == n)
        return (f, ready)
    }

    /// Nanoseconds of each of 30 heartbeats, one simulated second apart.
    static func run(_ f: Fixture, ready: UInt64, _ beat: @escaping (UInt64) -> Void) -> [UInt64] {
        f.on {
            (UInt64(1)...30).map { k in
                let start = DispatchTime.now().uptimeNanoseconds
                beat(ready + k * second)
                return DispatchTime.now().uptimeNanoseconds - start
            }
        }
    }

    static func report(_ name: String, _ n: Int, _ ns: [UInt64]) {
        let quiet = ns.enumerated().filter { ($0.offset + 1) % 15 != 0 }.map(\.element)
        let busy = ns.enumerated().filter { ($0.offset + 1) % 15 == 0 }.map(\.element)
        func us(_ v: [UInt64]) -> String { String(format: "%.1f", Double(v.reduce(0, +)) / Double(max(v.count, 1)) / 1000) }
        print("heartbeat \(name), \(n) idle connections: mean \(us(ns)) µs per tick over 30 s; quiet ticks \(us(quiet)) µs"
            + " (median \(String(format: "%.1f", Double(quiet.sorted()[quiet.count / 2]) / 1000)) µs); keep-alive ticks \(us(busy)) µs")
    }

    @Test(.enabled(if: connections != nil)) func heartbeatCostOldAndNew() throws {
        let n = Self.connections ?? 0
        let (old, oldReady) = try Self.idle(n)
        let before = Self.run(old, ready: oldReady) { now in
            // HubEndpoint.tick as it was: every connection, every second.
            for c in Array(old.endpoint.active.values) { c.tick(now: now) }
        }
        let (new, newReady) = try Self.idle(n)
        let after = Self.run(new, ready: newReady) { now in new.endpoint.tick(now: now) }
        Self.report("before (every connection)", n, before)
        Self.report("after (due connections only)", n, after)
        #expect(old.on { old.endpoint.active.count } == n && new.on { new.endpoint.active.count } == n)
    }
}
