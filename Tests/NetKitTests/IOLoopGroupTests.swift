import Foundation
import Synchronization
import Testing

@testable import NetKit

/// A value behind a lock, for values that aren't Sendable (the test reads them only once the loop is done).
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func update(_ f: (inout T) -> Void) { lock.lock(); f(&value); lock.unlock() }
}

/// A control loop with I/O loops doing its sockets' syscalls (``IOLoopGroup``): writes cross once per loop and
/// turn, each connection's bytes keep their order both ways, and a socket that ends while commands for it are on
/// their way ends once.
@Suite struct IOLoopGroupTests {
    /// A control loop, a group and a listener spreading over it; `accepted` gets every server-side connection.
    final class Server: @unchecked Sendable {
        let control: EventLoop
        let group: IOLoopGroup
        let port: UInt16
        let accepted = Locked<[TCPConnection]>([])

        init(ioLoops: Int, controlTakesShare: Bool, setUp: @escaping @Sendable (TCPConnection) -> Void = { _ in }) throws {
            control = try EventLoop.spawn(name: "test-ctl")
            group = try IOLoopGroup(control: control, ioLoops: ioLoops, controlTakesShare: controlTakesShare)
            let port = Box<UInt16>(0)
            let accepted = self.accepted
            let control = self.control, group = self.group
            control.execute {
                let listener = try! TCPListener(
                    loop: control, address: try! SocketAddress(host: "127.0.0.1", port: 0), spread: group
                ) { conn in
                    setUp(conn)
                    accepted.update { $0.append(conn) }
                }
                _ = Unmanaged.passRetained(listener)  // lives as long as the test process
                port.update { $0 = listener.localAddress.port }
            }
            #expect(waitUntil { port.get() != 0 })
            self.port = port.get()
        }

        func stop() {
            control.stop()
            group.stop()
        }

        /// Connects `count` clients (close them when done) and waits until they are accepted and the turns that
        /// accepted them are over (their adoptions crossed). Two round trips: the last accept can be seen while its
        /// turn still runs its handlers, and a task queued then runs in that same turn, before the turn's
        /// commands leave; the second one runs in a later turn.
        func connect(_ count: Int) -> (clients: [Int32], conns: CrossLoop<[TCPConnection]>) {
            let clients = (0..<count).map { _ in IOLoopGroupTests.client(port: port) }
            #expect(waitUntil { self.accepted.get().count == count })
            onControl {}
            onControl {}
            return (clients, CrossLoop(accepted.get()))
        }

        /// A shared output on the control loop with `members` joined to it.
        func sharedOutput(joining members: CrossLoop<[TCPConnection]>) -> CrossLoop<SharedOutput> {
            let output = Locked<SharedOutput?>(nil)
            let control = self.control
            onControl {
                let shared = SharedOutput(loop: control)
                for c in members.value { shared.join(c) }
                output.update { $0 = shared }
            }
            return CrossLoop(output.get()!)
        }

        /// Runs `body` on the control loop and waits for it.
        func onControl(_ body: @escaping @Sendable () -> Void) {
            let done = DispatchSemaphore(value: 0)
            control.execute {
                body()
                done.signal()
            }
            done.wait()
        }
    }

    /// A blocking client socket with a receive timeout (so a test fails instead of hanging).
    static func client(port: UInt16) -> Int32 {
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
        return fd
    }

    /// Reads until `count` bytes arrived, the peer closed, or the 5 s receive timeout.
    static func read(_ fd: Int32, count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = recv(fd, &buf, min(buf.count, count - out.count), 0)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    @Test func aBroadcastCrossesOncePerIOLoop() throws {
        let server = try Server(ioLoops: 2, controlTakesShare: true)
        defer { server.stop() }
        let (clients, conns) = server.connect(30)
        defer { clients.forEach { close($0) } }
        let before = server.group.tasksPosted.toIO
        let offloaded = conns.value.filter { $0.offload != nil }.count
        #expect(offloaded == 20)  // every third socket stays on the control loop
        let message = Array("broadcast\n".utf8)
        server.onControl {
            for c in conns.value { c.write(message) }
        }
        for fd in clients { #expect(Self.read(fd, count: message.count) == message) }
        #expect(server.group.tasksPosted.toIO - before == 2)
    }

    @Test func eachConnectionKeepsItsOrderBothWays() throws {
        // Echo: what a client sends comes back in order, though it crosses to the control loop and back.
        let server = try Server(ioLoops: 1, controlTakesShare: false) { conn in
            conn.onRead = { bytes in conn.write(Array(bytes)) }
        }
        defer { server.stop() }
        let fd = Self.client(port: server.port)
        defer { close(fd) }
        let sent = (0..<2000).flatMap { Array("m\($0);".utf8) }
        let writer = Thread {
            var off = 0
            while off < sent.count {
                let n = sent[off...].withUnsafeBytes { send(fd, $0.baseAddress!, min($0.count, 997), 0) }
                if n <= 0 { return }
                off += n
            }
        }
        writer.start()
        #expect(Self.read(fd, count: sent.count) == sent)
        // Many control-loop turns, each writing to the connection: their order holds too.
        let conn = CrossLoop(server.accepted.get()[0])
        for turn in 0..<50 {
            server.control.execute { conn.value.write(Array("t\(turn);".utf8)) }
        }
        let expected = (0..<50).flatMap { Array("t\($0);".utf8) }
        #expect(Self.read(fd, count: expected.count) == expected)
    }

    @Test func readsWhilePausedWaitForResume() throws {
        let got = Box<[UInt8]>([])
        let server = try Server(ioLoops: 1, controlTakesShare: false) { conn in
            conn.onRead = { bytes in got.update { $0.append(contentsOf: bytes) } }
        }
        defer { server.stop() }
        let fd = Self.client(port: server.port)
        defer { close(fd) }
        #expect(waitUntil { server.accepted.get().count == 1 })
        let conn = CrossLoop(server.accepted.get()[0])
        _ = send(fd, "one;", 4, 0)
        #expect(waitUntil { got.get() == Array("one;".utf8) })
        server.onControl { conn.value.pauseReading() }
        // Sent right after the pause: the I/O loop may already have read it; it must not be delivered yet.
        _ = send(fd, "two;", 4, 0)
        usleep(50_000)
        #expect(got.get() == Array("one;".utf8))
        server.onControl { conn.value.resumeReading() }
        _ = send(fd, "three;", 6, 0)
        #expect(waitUntil { got.get() == Array("one;two;three;".utf8) })
    }

    @Test func aSocketEndingWhileCommandsAreQueuedEndsOnce() throws {
        let closes = Box<[TCPCloseReason]>([])
        let server = try Server(ioLoops: 1, controlTakesShare: false) { conn in
            conn.onClose = { r in closes.update { $0.append(r) } }
        }
        defer { server.stop() }
        let fd = Self.client(port: server.port)
        defer { close(fd) }
        #expect(waitUntil { server.accepted.get().count == 1 })
        let conn = CrossLoop(server.accepted.get()[0])
        // In one control-loop turn: the I/O loop ends the socket (its report queues behind this turn), then the
        // control loop, not knowing yet, writes and closes: those commands find the socket gone.
        server.onControl {
            let offload = conn.value.offload!
            let peer = CrossLoop(offload.peer)
            let ended = DispatchSemaphore(value: 0)
            offload.shard.io.execute {
                peer.value.abort()
                ended.signal()
            }
            ended.wait()
            conn.value.write(Array("late".utf8))
            conn.value.close()
        }
        // Read on the control loop: the connection is confined to it.
        #expect(waitUntil {
            let closed = Box<Bool>(false)
            server.onControl { closed.update { $0 = conn.value.isClosed } }
            return closed.get()
        })
        #expect(Self.read(fd, count: 4).isEmpty)
        usleep(50_000)
        #expect(closes.get() == [.local])
        // And the other way round: the control loop aborts while a read for the connection is on its way back.
        let fd2 = Self.client(port: server.port)
        defer { close(fd2) }
        #expect(waitUntil { server.accepted.get().count == 2 })
        let conn2 = CrossLoop(server.accepted.get()[1])
        _ = send(fd2, "x", 1, 0)
        server.onControl { conn2.value.abort() }
        usleep(50_000)
        #expect(closes.get() == [.local, .local])
        #expect(Self.read(fd2, count: 1).isEmpty)
    }

    /// A shared output's pass reaches offloaded members as one command per I/O loop, and each member still sees
    /// its own writes in their place among the broadcasts (its catch-up crosses in order with its writes).
    @Test func aSharedPassCrossesOncePerIOLoopAndKeepsOrder() throws {
        let server = try Server(ioLoops: 2, controlTakesShare: true)
        defer { server.stop() }
        let (clients, conns) = server.connect(9)
        defer { clients.forEach { close($0) } }
        let shared = server.sharedOutput(joining: conns)
        #expect(shared.value.memberCount == 9)
        server.onControl {}  // the joins' turn has posted its commands
        let before = server.group.tasksPosted.toIO
        let special = CrossLoop(conns.value.filter { $0.offload != nil }.first!)
        let skipped = CrossLoop(conns.value.filter { $0.offload != nil }.last!)
        server.onControl {
            for i in 0..<5 { shared.value.append(Array("b\(i);".utf8)) }
            special.value.write(Array("own;".utf8))
            shared.value.append(Array("x;".utf8), excluding: [skipped.value])
            shared.value.append(Array("end;".utf8))
        }
        let all = "b0;b1;b2;b3;b4;x;end;"
        for (k, fd) in clients.enumerated() {
            let conn = conns.value[k]
            let expected = conn === special.value ? "b0;b1;b2;b3;b4;own;x;end;"
                : conn === skipped.value ? "b0;b1;b2;b3;b4;end;" : all
            #expect(String(decoding: Self.read(fd, count: expected.utf8.count), as: UTF8.self) == expected)
        }
        // One task per I/O loop for the whole turn (the pass and the special member's writes travel together).
        #expect(server.group.tasksPosted.toIO - before == 2)
        // A member that leaves gets nothing more; the others keep getting passes.
        server.onControl {
            special.value.leaveSharedOutput()
            shared.value.append(Array("after;".utf8))
        }
        for (k, fd) in clients.enumerated() where conns.value[k] !== special.value {
            #expect(String(decoding: Self.read(fd, count: 6), as: UTF8.self) == "after;")
        }
        let specialFD = clients[conns.value.firstIndex { $0 === special.value }!]
        server.onControl {}
        var buf = [UInt8](repeating: 0, count: 64)
        #expect(recv(specialFD, &buf, 64, Int32(MSG_DONTWAIT)) == -1)
    }

    /// Offloaded members count per I/O loop: once every member of one I/O loop left, passes cross only to the
    /// other one (and still reach its members and the control loop's); a member joining again is counted there.
    @Test func aPassCrossesOnlyToIOLoopsWithMembers() throws {
        let server = try Server(ioLoops: 2, controlTakesShare: true)
        defer { server.stop() }
        let (clients, conns) = server.connect(6)
        defer { clients.forEach { close($0) } }
        let first = server.group.shards[0]
        let leaving = CrossLoop(conns.value.filter { $0.offload?.shard === first })
        #expect(leaving.value.count == 2)
        let shared = server.sharedOutput(joining: conns)
        server.onControl { for c in leaving.value { c.leaveSharedOutput() } }
        #expect(shared.value.memberCount == 4)
        server.onControl {}
        var before = server.group.tasksPosted.toIO
        server.onControl { shared.value.append(Array("p;".utf8)) }
        for (k, fd) in clients.enumerated() where !leaving.value.contains(where: { $0 === conns.value[k] }) {
            #expect(String(decoding: Self.read(fd, count: 2), as: UTF8.self) == "p;")
        }
        // The turn posts to each I/O loop in turn, and the first may have written before the next was posted: a round
        // trip ends that turn before counting.
        server.onControl {}
        #expect(server.group.tasksPosted.toIO - before == 1)
        // Back in: the pass crosses to both I/O loops again.
        server.onControl { shared.value.join(leaving.value[0]) }
        server.onControl {}
        before = server.group.tasksPosted.toIO
        server.onControl { shared.value.append(Array("q;".utf8)) }
        let rejoined = clients[conns.value.firstIndex { $0 === leaving.value[0] }!]
        #expect(String(decoding: Self.read(rejoined, count: 2), as: UTF8.self) == "q;")
        server.onControl {}
        #expect(server.group.tasksPosted.toIO - before == 2)
    }

    /// A client that doesn't read is dropped at its cap, whether its bytes come from its own writes (the control
    /// loop counts them) or from shared passes (its I/O loop queues them and adds them to the count both read); a
    /// member of an output leaves it.
    @Test(arguments: [false, true]) func aSlowConsumerIsDroppedAtTheCap(throughSharedPasses: Bool) throws {
        let reason = Box<TCPCloseReason?>(nil)
        let server = try Server(ioLoops: 1, controlTakesShare: false) { conn in
            conn.maxPendingWriteBytes = 256 * 1024
            conn.onClose = { r in reason.update { $0 = r } }
        }
        defer { server.stop() }
        let fd = Self.client(port: server.port)
        defer { close(fd) }
        #expect(waitUntil { server.accepted.get().count == 1 })
        let conn = CrossLoop(server.accepted.get()[0])
        let output = Locked<SharedOutput?>(nil)
        server.onControl {
            let shared = SharedOutput(loop: server.control)
            if throughSharedPasses { shared.join(conn.value) }
            output.update { $0 = shared }
        }
        let shared = CrossLoop(output.get()!)
        let chunk = [UInt8](repeating: 0x41, count: 64 * 1024)
        for _ in 0..<200 {
            server.control.execute {
                if throughSharedPasses { shared.value.append(chunk) } else if conn.value.isOpen { conn.value.write(chunk) }
            }
        }
        #expect(waitUntil { reason.get() == .slowConsumer })
        #expect(waitUntil {
            let count = Box<Int>(-1)
            server.onControl { count.update { $0 = shared.value.memberCount } }
            return count.get() == 0
        })
    }
}
