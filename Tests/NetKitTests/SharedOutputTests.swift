import Foundation
import Synchronization
import Testing

@testable import NetKit

/// The broadcast pass: every member gets the turn's shared bytes once, in order with its own writes, and what a
/// full socket can't take waits in its queue.
@Suite struct SharedOutputTests {
    /// A connected pair of Unix stream sockets: the server end adopted by `loop`, the client end a plain
    /// blocking descriptor the test reads (with a receive timeout, so a missing byte fails instead of hanging).
    final class Pair: @unchecked Sendable {
        let server: TCPConnection
        let client: Int32
        init(loop: EventLoop, receiveBuffer: Int32? = nil) throws {
            var fds: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw SystemError("socketpair") }
            _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
            if var size = receiveBuffer {
                setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, 4)
                setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, 4)
            }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            server = try TCPConnection.adopt(fd: fds[0], loop: loop, remote: nil)
            client = fds[1]
        }

        /// Reads until `count` bytes came (or the timeout).
        func read(_ count: Int) -> String {
            var out: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 64 * 1024)
            while out.count < count {
                let n = Glibc.read(client, &buf, min(buf.count, count - out.count))
                if n <= 0 { break }
                out.append(contentsOf: buf[0..<n])
            }
            return String(decoding: out, as: UTF8.self)
        }

        /// Whatever is readable right now (nothing: "").
        func readNow() -> String {
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = recv(client, &buf, buf.count, Int32(MSG_DONTWAIT))
            return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
        }

        deinit { close(client) }
    }

    /// Runs `body` on the loop and waits for it.
    func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        loop.execute { result.withLock { $0 = Result { try body() } } }
        #expect(waitUntil { result.withLock { $0 != nil } })
        return try result.withLock { $0! }.get()
    }

    @Test func everyMemberGetsTheTurnsBytesInOnePass() throws {
        let loop = try EventLoop.spawn(name: "test-shared")
        defer { loop.stop() }
        let pairs = try onLoop(loop) { try (0..<5).map { _ in try Pair(loop: loop) } }
        let output = try onLoop(loop) {
            let output = SharedOutput(loop: loop)
            for p in pairs { output.join(p.server) }
            for i in 0..<10 { output.append(Array("m\(i);".utf8)) }
            return UnsafeSendable(output)
        }
        let expected = (0..<10).map { "m\($0);" }.joined()
        for p in pairs { #expect(p.read(expected.utf8.count) == expected) }
        // Ten broadcasts in one turn: one pass, one write per member.
        #expect(try onLoop(loop) { output.value.passes } == 1)
        #expect(try onLoop(loop) { pairs.map(\.server.bytesWritten) } == Array(repeating: UInt64(expected.utf8.count), count: 5))
        // The next turn's broadcast is a pass of its own.
        try onLoop(loop) { output.value.append(Array("next;".utf8)) }
        for p in pairs { #expect(p.read(5) == "next;") }
        #expect(try onLoop(loop) { output.value.passes } == 2)
    }

    /// A member's own write between two broadcasts lands between them; the other members don't see it.
    @Test func ownWritesKeepTheirPlaceAmongBroadcasts() throws {
        let loop = try EventLoop.spawn(name: "test-shared-order")
        defer { loop.stop() }
        let (a, b) = try onLoop(loop) { (try Pair(loop: loop), try Pair(loop: loop)) }
        let kept = try onLoop(loop) {
            let output = SharedOutput(loop: loop)
            output.join(a.server)
            output.join(b.server)
            output.append(Array("B1;".utf8))
            a.server.write(Array("own;".utf8))
            output.append(Array("B2;".utf8))
            b.server.write(Array("bown;".utf8))
            a.server.write(Array("own2;".utf8))
            output.append(Array("B3;".utf8))
            return UnsafeSendable(output)  // kept alive past the pass
        }
        #expect(a.read(18) == "B1;own;B2;own2;B3;")
        #expect(b.read(14) == "B1;B2;bown;B3;")
        withExtendedLifetime(kept) {}
    }

    /// Excluded members skip that frame only; a member joining mid-turn gets only what came after; a member
    /// leaving gets what came before.
    @Test func excludedJoinedAndLeavingMembers() throws {
        let loop = try EventLoop.spawn(name: "test-shared-members")
        defer { loop.stop() }
        let (a, b, c, d) = try onLoop(loop) { (try Pair(loop: loop), try Pair(loop: loop), try Pair(loop: loop), try Pair(loop: loop)) }
        let kept = try onLoop(loop) {
            let output = SharedOutput(loop: loop)
            for p in [a, b, c] { output.join(p.server) }
            output.append(Array("1;".utf8))
            output.append(Array("2;".utf8), excluding: [a.server, d.server])  // d: not a member, ignored
            output.join(d.server)
            output.append(Array("3;".utf8))
            c.server.leaveSharedOutput()
            output.append(Array("4;".utf8))
            #expect(output.memberCount == 3)
            #expect(!output.contains(c.server))
            return UnsafeSendable(output)
        }
        #expect(a.read(6) == "1;3;4;")
        #expect(b.read(8) == "1;2;3;4;")
        #expect(c.read(6) == "1;2;3;")
        #expect(d.read(4) == "3;4;")
        // Nothing more arrives for c after it left.
        try onLoop(loop) {}
        #expect(c.readNow() == "")
        withExtendedLifetime(kept) {}
    }

    /// A member whose socket is full keeps the rest queued and gets everything in order once it reads; the others
    /// aren't held up. Past its cap it is dropped.
    @Test func fullSocketCatchesUpFromItsQueueThenCapDrops() throws {
        let loop = try EventLoop.spawn(name: "test-shared-full")
        defer { loop.stop() }
        let (slow, fast) = try onLoop(loop) { (try Pair(loop: loop, receiveBuffer: 4096), try Pair(loop: loop)) }
        let closed = Mutex<TCPCloseReason?>(nil)
        let output = try onLoop(loop) {
            let output = SharedOutput(loop: loop)
            output.join(slow.server)
            output.join(fast.server)
            return UnsafeSendable(output)
        }
        // 40 turns of 1 KiB each: far more than the slow socket's buffers hold.
        var expected = ""
        for turn in 0..<40 {
            let frame = String(repeating: Character(UnicodeScalar(UInt8(65 + turn % 26))), count: 1023) + ";"
            expected += frame
            try onLoop(loop) { output.value.append(Array(frame.utf8)) }
        }
        #expect(fast.read(expected.utf8.count) == expected)
        #expect(try onLoop(loop) { slow.server.pendingWriteBytes } > 0)
        #expect(slow.read(expected.utf8.count) == expected)
        #expect(waitUntil { (try? onLoop(loop) { slow.server.pendingWriteBytes }) == 0 })

        // Now a cap smaller than what is about to queue: the slow member is dropped and leaves the output.
        try onLoop(loop) {
            slow.server.maxPendingWriteBytes = 16 * 1024
            slow.server.onClose = { reason in closed.withLock { $0 = reason } }
            for _ in 0..<64 { output.value.append([UInt8](repeating: 0x5A, count: 1024)) }
        }
        try onLoop(loop) {
            for _ in 0..<64 { output.value.append([UInt8](repeating: 0x5A, count: 1024)) }
        }
        #expect(waitUntil { closed.withLock { $0 } == .slowConsumer })
        #expect(try onLoop(loop) { output.value.memberCount } == 1)
        #expect(fast.read(128 * 1024).utf8.count == 128 * 1024)
    }
}
