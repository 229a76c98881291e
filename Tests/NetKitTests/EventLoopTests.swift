import Foundation
import Synchronization
import Testing

@testable import NetKit

/// Polls `condition` until it holds or the deadline passes.
func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(2000)
    }
    return condition()
}

/// Hands a loop-confined value to closures that run on the loop.
final class UnsafeSendable<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

final class Box<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func update(_ f: (inout T) -> Void) { lock.lock(); f(&value); lock.unlock() }
}

@Suite struct EventLoopTests {
    @Test func echoRoundTripAndCoalescedWrites() throws {
        let loop = try EventLoop.spawn(name: "test-echo")
        defer { loop.stop() }
        let port = Box<UInt16>(0)
        let received = Box<[UInt8]>([])
        loop.execute {
            let listener = try! TCPListener(loop: loop, address: try! SocketAddress(host: "127.0.0.1", port: 0)) { conn in
                conn.onRead = { bytes in conn.write(Array(bytes)) }
            }
            port.update { $0 = listener.localAddress.port }
            TCPConnection.connect(loop: loop, to: try! SocketAddress(host: "127.0.0.1", port: listener.localAddress.port)) { result in
                guard case .success(let c) = result else { return }
                c.onRead = { bytes in received.update { $0.append(contentsOf: bytes) } }
                // Several writes in one iteration: one writev.
                for i in 0..<100 { c.write(Array("msg\(i);".utf8)) }
            }
        }
        let expected = (0..<100).map { "msg\($0);" }.joined()
        #expect(waitUntil { String(decoding: received.get(), as: UTF8.self) == expected })
    }

    @Test func slowConsumerIsDropped() throws {
        let loop = try EventLoop.spawn(name: "test-slow")
        defer { loop.stop() }
        let reason = Box<TCPCloseReason?>(nil)
        let clientFD = Box<Int32>(-1)
        loop.execute {
            let listener = try! TCPListener(loop: loop, address: try! SocketAddress(host: "127.0.0.1", port: 0)) { conn in
                conn.maxPendingWriteBytes = 256 * 1024
                conn.onClose = { r in reason.update { $0 = r } }
                // Peer never reads: keep queueing until the cap trips.
                let chunk = [UInt8](repeating: 0x41, count: 64 * 1024)
                for _ in 0..<1000 where conn.isOpen { conn.write(chunk); conn.flush() }
            }
            // A raw blocking client that never reads.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = listener.localAddress.port.bigEndian
            sa.sin_addr.s_addr = inet_addr("127.0.0.1")
            var rcv: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, 4)
            _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            clientFD.update { $0 = fd }
        }
        #expect(waitUntil { reason.get() == .slowConsumer })
        close(clientFD.get())
    }

    @Test func timersFireInOrderAndCancel() throws {
        let loop = try EventLoop.spawn(name: "test-timers")
        defer { loop.stop() }
        let fired = Box<[Int]>([])
        loop.execute {
            loop.schedule(afterNanos: 30_000_000) { fired.update { $0.append(3) } }
            loop.schedule(afterNanos: 10_000_000) { fired.update { $0.append(1) } }
            let t = loop.schedule(afterNanos: 20_000_000) { fired.update { $0.append(99) } }
            loop.schedule(afterNanos: 20_000_000) { fired.update { $0.append(2) } }
            loop.cancel(t)
        }
        #expect(waitUntil { fired.get().count == 3 })
        #expect(fired.get() == [1, 2, 3])
    }

    /// A batch task armed many times in one iteration runs once, after that iteration's tasks (so it sees all
    /// of them); armed from its own body it runs again in the next iteration.
    @Test func batchTaskRunsOncePerIterationAfterTheTasks() throws {
        let loop = try EventLoop.spawn(name: "test-batch")
        defer { loop.stop() }
        let log = Box<[String]>([])
        let again = Box<Bool>(true)
        let task = UnsafeSendable<BatchTask?>(nil)
        loop.execute {
            task.value = BatchTask(loop: loop) {
                log.update { $0.append("batch") }
                if again.get() {
                    again.update { $0 = false }
                    task.value?.arm()
                }
            }
            for i in 0..<3 {
                log.update { $0.append("work \(i)") }
                task.value?.arm()
            }
            // Queued while the tasks run: waits for the next iteration, where the re-armed batch follows it.
            loop.execute { log.update { $0.append("late work") } }
        }
        #expect(waitUntil { log.get().count == 6 })
        #expect(log.get() == ["work 0", "work 1", "work 2", "batch", "late work", "batch"])
    }

    /// The turn timer starts at the wake-up, so time spent handling the read before queueing the answer counts
    /// (it once restarted when timers ran, after the handlers, and reported a busy handler as ~0).
    @Test func wakeToFirstWriteIncludesTheReadHandler() throws {
        let loop = try EventLoop.spawn(name: "test-turn")
        defer { loop.stop() }
        let echoed = Box<Int>(0)
        let slowest = Box<UInt64>(0)
        loop.execute {
            let listener = try! TCPListener(loop: loop, address: try! SocketAddress(host: "127.0.0.1", port: 0)) { conn in
                conn.onRead = { bytes in
                    let busyUntil = monotonicNanos() + 3_000_000
                    while monotonicNanos() < busyUntil {}
                    conn.write(Array(bytes))
                }
            }
            TCPConnection.connect(loop: loop, to: try! SocketAddress(host: "127.0.0.1", port: listener.localAddress.port)) { result in
                guard case .success(let c) = result else { return }
                c.onRead = { bytes in
                    echoed.update { $0 += bytes.count }
                    slowest.update { $0 = loop.wakeToFirstWrite.maxNanos }
                }
                c.write([1, 2, 3])
            }
        }
        #expect(waitUntil { echoed.get() == 3 })
        // The server's read turn wrote only after its 3 ms handler.
        #expect(slowest.get() >= 3_000_000)
    }

    @Test func portInUseIsReported() throws {
        let loop = try EventLoop.spawn(name: "test-bind")
        defer { loop.stop() }
        let outcome = Box<String>("")
        loop.execute {
            let a = try! TCPListener(loop: loop, address: try! SocketAddress(host: "127.0.0.1", port: 0)) { _ in }
            do {
                _ = try TCPListener(loop: loop, address: a.localAddress) { _ in }
                outcome.update { $0 = "bound twice" }
            } catch let e as SystemError {
                outcome.update { $0 = e.errno == EADDRINUSE ? "in use" : e.description }
            } catch {
                outcome.update { $0 = "\(error)" }
            }
        }
        #expect(waitUntil { !outcome.get().isEmpty })
        #expect(outcome.get() == "in use")
    }

    @Test func addressParsing() throws {
        #expect(try SocketAddress(parsing: "127.0.0.1:5001").port == 5001)
        #expect(try SocketAddress(parsing: "[::1]:80").family == .v6)
        #expect(try SocketAddress(parsing: "localhost:1").isLoopback)
        #expect(throws: AddressError.self) { try SocketAddress(parsing: "nohost") }
        #expect(throws: AddressError.self) { try SocketAddress(parsing: "example.com:80") }
        #expect(throws: AddressError.self) { try SocketAddress(parsing: "1.2.3.4:70000") }
        #expect(try !SocketAddress(parsing: "0.0.0.0:1").isLoopback)
    }
}
