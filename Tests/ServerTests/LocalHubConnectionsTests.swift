import Foundation
import NetKit
import Synchronization
import Testing
@testable import SignalRMesh

/// The broadcast list of ``LocalHubConnections`` (a contiguous array beside the id dictionary) stays in step with
/// the dictionary through adds, removals from any position, replacements and removals during a pass.
@Suite struct LocalHubConnectionsTests {
    final class Sink: HubConnectionSink {
        let connectionId: String
        var received = 0
        var onSend: (() -> Void)?
        init(_ id: String) { connectionId = id }
        func sendMessage(_ message: OutgoingMessage) {
            received += 1
            onSend?()
        }
    }

    private func counts(_ sinks: [Sink]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: sinks.map { ($0.connectionId, $0.received) })
    }

    @Test func broadcastsReachExactlyTheConnectionsHereAfterRemovalsAndReplacements() {
        let local = LocalHubConnections(hubName: "H")
        let sinks = (0..<6).map { Sink("c\($0)") }
        for s in sinks { local.add(s, user: nil) }
        _ = local.remove(sinks[0])        // the first slot: the last one moves into it
        _ = local.remove(sinks[3])        // a middle slot
        _ = local.remove(Sink("c4"))      // another object under a registered id: ignored
        let replacement = Sink("c2")
        local.add(replacement, user: nil) // the same id again: replaces, no second slot
        let message = OutgoingMessage(.ping)

        local.deliver(message, to: .all)
        #expect(local.messagesDelivered == 4)
        #expect(counts(sinks) == ["c0": 0, "c1": 1, "c2": 0, "c3": 0, "c4": 1, "c5": 1])
        #expect(replacement.received == 1)

        local.deliver(message, to: .allExcept(["c5", "c0", "gone", "c5"]))
        #expect(local.messagesDelivered == 7)
        #expect(counts(sinks) == ["c0": 0, "c1": 2, "c2": 0, "c3": 0, "c4": 2, "c5": 1])
        #expect(replacement.received == 2)

        _ = local.remove(replacement)
        _ = local.remove(sinks[5])
        local.deliver(message, to: .allExcept(["c4"]))
        #expect(local.messagesDelivered == 8)
        #expect(counts(sinks) == ["c0": 0, "c1": 3, "c2": 0, "c3": 0, "c4": 2, "c5": 1])
        _ = local.remove(sinks[1])
        _ = local.remove(sinks[4])
        local.deliver(message, to: .all)
        #expect(local.messagesDelivered == 8 && local.count == 0)
    }

    @Test func aConnectionLeavingDuringAPassChangesOnlyTheNextPass() {
        let local = LocalHubConnections(hubName: "H")
        let sinks = (0..<4).map { Sink("c\($0)") }
        for s in sinks { local.add(s, user: nil) }
        // Whoever is sent to first removes every other connection (as slow-consumer closes would, one at a time).
        var fired = false
        for s in sinks {
            s.onSend = {
                guard !fired else { return }
                fired = true
                for other in sinks where other !== s { _ = local.remove(other) }
            }
        }
        let message = OutgoingMessage(.ping)
        local.deliver(message, to: .all)
        #expect(sinks.allSatisfy { $0.received == 1 })
        for s in sinks { s.onSend = nil }
        local.deliver(message, to: .all)
        #expect(local.count == 1)
        #expect(sinks.map(\.received).reduce(0, +) == 5)
    }

    /// A WebSocket-like sink: broadcasts go to its socket in the hub's shared pass, its own messages straight
    /// to the socket (as ``SignalRConnection`` does).
    final class SocketSink: HubConnectionSink {
        let connectionId: String
        let socket: TCPConnection
        let kind: HubProtocolKind
        init(_ id: String, _ socket: TCPConnection, _ kind: HubProtocolKind) {
            connectionId = id
            self.socket = socket
            self.kind = kind
        }
        var sharedFrameSocket: (socket: TCPConnection, kind: HubProtocolKind)? { (socket, kind) }
        func sendMessage(_ message: OutgoingMessage) { socket.write(message.webSocketFrame(kind)) }
    }

    final class Shared<T>: @unchecked Sendable {
        var value: T
        init(_ value: T) { self.value = value }
    }

    /// Runs `body` on the loop and waits for it (5 s at most).
    private func onLoop(_ loop: EventLoop, _ body: @escaping () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let work = Shared(body)
        loop.execute {
            work.value()
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
    }

    /// Blocking client sockets (5 s receive timeout) connected to a listener on `loop`, and the server side of each.
    private func connectedPairs(_ count: Int, loop: EventLoop) throws -> (clients: [Int32], servers: [TCPConnection]) {
        let accepted = Shared<[TCPConnection]>([])
        let listener = Shared<TCPListener?>(nil)
        onLoop(loop) {
            listener.value = try! TCPListener(loop: loop, address: try! SocketAddress(host: "127.0.0.1", port: 0)) { conn in
                accepted.value.append(conn)
            }
        }
        var port: UInt16 = 0
        onLoop(loop) { port = listener.value!.localAddress.port }
        var clients: [Int32] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr.s_addr = inet_addr("127.0.0.1")
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            _ = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            clients.append(fd)
        }
        let deadline = Date().addingTimeInterval(5)
        var servers: [TCPConnection] = []
        while Date() < deadline {
            onLoop(loop) { servers = accepted.value }
            if servers.count == count { break }
            usleep(2000)
        }
        #expect(servers.count == count)
        // Accepted in connect order on one loop; the test matches them by their client's local port.
        var byPort: [UInt16: TCPConnection] = [:]
        for s in servers { byPort[s.remoteAddress!.port] = s }
        let ordered = clients.map { fd -> TCPConnection in
            var sa = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            return byPort[UInt16(bigEndian: sa.sin_port)]!
        }
        onLoop(loop) { _ = listener.value }
        return (clients, ordered)
    }

    private func read(_ fd: Int32, count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < count {
            let n = recv(fd, &buf, min(buf.count, count - out.count), 0)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    private static func invocation(_ n: Int) -> OutgoingMessage {
        let json = Array(#"{"type":1,"target":"T","arguments":[\#(n)]}"#.utf8) + [0x1E]
        return json.withUnsafeBytes { OutgoingMessage(json: $0) }
    }

    /// WebSocket sinks get broadcasts in the hub's shared pass (one per protocol), in order with the messages sent
    /// to them alone; excluded ones skip only that broadcast; one that left gets nothing more; the other sinks still
    /// get broadcasts one by one; the count of deliveries is the same as one by one.
    @Test func webSocketSinksGetBroadcastsInOnePassInOrderWithTheirOwnMessages() throws {
        let loop = try EventLoop.spawn(name: "test-local-shared")
        defer { loop.stop() }
        let (clients, servers) = try connectedPairs(3, loop: loop)
        defer { clients.forEach { close($0) } }
        let local = LocalHubConnections(hubName: "H")
        let a = SocketSink("a", servers[0], .json), b = SocketSink("b", servers[1], .json)
        let c = SocketSink("c", servers[2], .messagePack)
        let d = Sink("d")
        let m = (1...4).map { Self.invocation($0) }
        let sinks = Shared((a, b, c, d, local))
        onLoop(loop) {
            let (a, b, c, d, local) = sinks.value
            for s in [a, b, c] as [any HubConnectionSink] { local.add(s, user: nil) }
            local.add(d, user: nil)
            #expect(local.sharedOutputMembers == 3)
            local.deliver(m[0], to: .all)
            local.deliver(m[1], to: .connections(["a"]))
            local.deliver(m[2], to: .allExcept(["b"]))
            #expect(local.messagesDelivered == 4 + 1 + 3)
            #expect(d.received == 2)
        }
        func frames(_ kind: HubProtocolKind, _ k: [Int]) -> [UInt8] { k.flatMap { m[$0].webSocketFrame(kind) } }
        let expectA = frames(.json, [0, 1, 2]), expectB = frames(.json, [0]), expectC = frames(.messagePack, [0, 2])
        #expect(read(clients[0], count: expectA.count) == expectA)
        #expect(read(clients[1], count: expectB.count) == expectB)
        #expect(read(clients[2], count: expectC.count) == expectC)

        onLoop(loop) {
            let (a, _, _, d, local) = sinks.value
            _ = local.remove(a)
            local.deliver(m[3], to: .all)
            #expect(local.sharedOutputMembers == 2)
            #expect(d.received == 3)
        }
        let expectB2 = frames(.json, [3]), expectC2 = frames(.messagePack, [3])
        #expect(read(clients[1], count: expectB2.count) == expectB2)
        #expect(read(clients[2], count: expectC2.count) == expectC2)
        onLoop(loop) {}
        var buf = [UInt8](repeating: 0, count: 64)
        #expect(recv(clients[0], &buf, 64, Int32(MSG_DONTWAIT)) == -1)
    }
}
