import CSystem
import Foundation
import Glibc
import NetKit
import Synchronization

/// `Bench floor`: what this machine charges for the *shape* of a cross-replica delivery, with no software in it.
///
/// Three relay processes stand in for replicas a, b and c and do nothing but move bytes: a takes a record from
/// the sender and writes it back to the sender, to b and to c (the echo and the broadcast), b writes it to the
/// receiver, c drops it. Same processes, sockets, wake-ups and fan-out as `Bench latency`, at the same rate and
/// size, with no parsing. By default every reader sleeps in `epoll_wait` before its `read`, as an event-loop server
/// does; `--wait read` sleeps in `read` itself (the bare minimum); `--wait netkit` runs the relays on NetKit's
/// EventLoop and TCPConnection (our loop with nothing on top). Run it next to `Bench latency`: the difference is
/// what our code adds; the floor itself moves with the load on the host.
enum FloorBench {
    static let usage = """
        Bench floor [--rate 1000] [--seconds 10] [--size 64] [--warmup 1] [--wait epoll|read|netkit]
            The same path as `latency` (sender → a → b → receiver, a also echoing to the sender and writing to c)
            through three relay processes that only copy bytes: the machine's floor for that path right now.
            Relays wait in epoll_wait like an event loop (default), in a blocking read (--wait read), or run on
            NetKit's own event loop and connections (--wait netkit: what our loop adds by itself).
        """

    static func run(_ args: [String]) throws(UsageError) {
        let flags = try Flags(command: "floor", args, valued: ["rate", "seconds", "size", "warmup", "wait"])
        let wait = flags.string("wait", default: "epoll")
        guard ["epoll", "read", "netkit"].contains(wait) else { throw UsageError("floor: --wait epoll|read|netkit") }
        let rate = try flags.int("rate", default: 1000, min: 1, max: 1_000_000)
        let seconds = try flags.double("seconds", default: 10, min: 0.1)
        let size = try flags.int("size", default: 64, min: 16, max: 16_000)
        let warmup = try flags.double("warmup", default: 1, min: 0)
        guard seconds <= 3600, warmup <= 60 else { throw UsageError("floor: --seconds ≤ 3600 and --warmup ≤ 60") }

        Out.progress("load average: \(SystemInfo.loadAverage())")
        let deadline = monotonicNanos() + 10_000_000_000
        func spawn(_ role: String, _ extra: [String] = []) -> (ChildProcess, UInt16) {
            let child: ChildProcess
            do {
                child = try ChildProcess(name: role, arguments: ["floor-relay", "--role", role, "--wait", wait] + extra)
            } catch {
                Out.fail("cannot spawn relay \(role): \(error)")
            }
            guard let line = child.line(startingWith: "port ", deadline: deadline),
                let port = UInt16(line.dropFirst(5))
            else { Out.fail("relay \(role) did not report its port") }
            return (child, port)
        }
        // b first, and the receiver on it before a exists: b's first accepted connection is the receiver.
        let (b, bPort) = spawn("b")
        let receiverFd = PlainSocket.connect(to: PlainSocket.loopback, port: bPort)
        let (c, cPort) = spawn("c")
        let (a, aPort) = spawn("a", ["--to", "\(bPort),\(cPort)"])
        let senderFd = PlainSocket.connect(to: PlainSocket.loopback, port: aPort, timeoutSeconds: 10)
        guard receiverFd >= 0, senderFd >= 0 else { Out.fail("cannot connect to the relays") }
        Out.progress("relays up: a :\(aPort), b :\(bPort), c :\(cPort); \(rate) msg/s for \(warmup) s warm-up + \(seconds) s")

        let start = monotonicNanos() + 20_000_000
        let measureFrom = start + UInt64(warmup * 1e9)
        let end = measureFrom + UInt64(seconds * 1e9)
        let received = Mutex<[UInt64]>([])
        let receiverDone = DispatchSemaphore(value: 0)
        let receiver = Thread {
            let samples = receiveRecords(
                fd: receiverFd, size: size, measureFrom: measureFrom, reader: Reader(fd: receiverFd, epoll: wait != "read"))
            received.withLock { $0 = samples }
            receiverDone.signal()
        }
        receiver.name = "floor-receiver"
        receiver.start()

        let (sent, measured) = sendPaced(
            fd: senderFd, rate: rate, size: size, start: start, end: end, measureFrom: measureFrom)
        // Closing the sender's socket ends a, which closes b and c, which ends the receiver.
        shutdown(senderFd, Int32(SHUT_WR))
        if receiverDone.wait(timeout: .now() + 5) == .timedOut { shutdown(receiverFd, Int32(SHUT_RDWR)) }
        _ = receiverDone.wait(timeout: .now() + 2)
        close(senderFd)
        close(receiverFd)
        for child in [a, b, c] { child.waitForExit(deadline: monotonicNanos() + 2_000_000_000) }

        let samples = received.withLock { $0 }
        let result = LatencyResult(
            samples: samples, lost: max(0, measured - samples.count), duplicates: 0, malformed: 0)
        Out.line(
            "floor (\(["epoll": "epoll_wait + read", "read": "blocking read", "netkit": "NetKit relays"][wait]!)): \(rate) msg/s, \(size)-byte records, \(seconds) s measured (+\(warmup) s warm-up), \(sent) sent in all; "
                + "load average \(SystemInfo.loadAverage())")
        Out.line("  sender → a → b → receiver (relays only): \(result)")
    }

    /// Writes one `size`-byte record (seq, send time, padding) per due slot, reading the echoes in between.
    /// Returns how many were sent in all and after `measureFrom`.
    static func sendPaced(
        fd: Int32, rate: Int, size: Int, start: UInt64, end: UInt64, measureFrom: UInt64
    ) -> (sent: Int, measured: Int) {
        var measured = 0
        var record = [UInt8](repeating: 0x78, count: size)
        var sink = [UInt8](repeating: 0, count: 64 * 1024)
        var sent = 0
        while true {
            let now = monotonicNanos()
            if now >= end { break }
            if now >= start {
                let due = Int(Double(now - start) * Double(rate) / 1e9) + 1 - sent
                for _ in 0..<max(0, min(due, 10_000)) {
                    sent += 1
                    let t = monotonicNanos()
                    if t >= measureFrom { measured += 1 }
                    store(UInt64(sent), at: 0, in: &record)
                    store(t, at: 8, in: &record)
                    guard PlainSocket.writeAll(fd, record) else { return (sent, measured) }
                }
            }
            // Like the latency client's 1 ms pacing timer: sleep in poll, taking echoes as they come.
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 1) > 0 {
                let n = read(fd, &sink, sink.count)
                if n <= 0 { return (sent, measured) }
            }
        }
        return (sent, measured)
    }

    /// Reads fixed-size records until the stream ends; latencies of those sent after `measureFrom`.
    static func receiveRecords(fd: Int32, size: Int, measureFrom: UInt64, reader: Reader) -> [UInt64] {
        var samples: [UInt64] = []
        samples.reserveCapacity(1 << 16)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var pending: [UInt8] = []
        while true {
            let n = reader.read(into: &buffer)
            let now = monotonicNanos()
            if n <= 0 { break }
            pending.append(contentsOf: buffer[0..<n])
            var offset = 0
            while pending.count - offset >= size {
                let sentAt = load(at: offset + 8, in: pending)
                if sentAt >= measureFrom { samples.append(now >= sentAt ? now - sentAt : 0) }
                offset += size
            }
            pending.removeFirst(offset)
        }
        return samples
    }

    // MARK: Relay processes

    /// `Bench floor-relay --role a|b|c [--to BPORT,CPORT]`: prints `port N`, then copies bytes until its upstream
    /// closes. a: sender → b, c and back to the sender. b: a → the first client that connected. c: drops.
    static func relay(_ args: [String]) throws(UsageError) {
        let flags = try Flags(command: "floor-relay", args, valued: ["role", "to", "wait"])
        let role = flags.string("role", default: "")
        let wait = flags.string("wait", default: "epoll")
        let epoll = wait == "epoll"
        guard ["a", "b", "c"].contains(role) else { throw UsageError("floor-relay: --role a|b|c") }
        // Our stdin is the parent's pipe: when it closes (the parent exited or failed), so do we, even while
        // blocked in accept or read.
        let watchdog = Thread {
            var byte: UInt8 = 0
            while read(0, &byte, 1) > 0 {}
            exit(0)
        }
        watchdog.start()
        if wait == "netkit" { netKitRelay(role: role, to: flags.string("to", default: "")) }
        let listenFd = PlainSocket.tcp()
        guard listenFd >= 0, PlainSocket.bind(listenFd, PlainSocket.loopback, port: 0), listen(listenFd, 8) == 0,
            let port = PlainSocket.localPort(listenFd)
        else {
            Out.fail("floor-relay \(role): cannot listen")
        }
        Out.line("port \(port)")
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        switch role {
        case "a":
            let ports = flags.string("to", default: "").split(separator: ",").compactMap { UInt16($0) }
            guard ports.count == 2 else { throw UsageError("floor-relay a: --to BPORT,CPORT") }
            let downstream = ports.map { PlainSocket.connect(to: PlainSocket.loopback, port: $0) }
            let upstream = PlainSocket.accept(listenFd)
            guard upstream >= 0, downstream.allSatisfy({ $0 >= 0 }) else { Out.fail("floor-relay a: cannot connect") }
            let reader = Reader(fd: upstream, epoll: epoll)
            while true {
                let n = reader.read(into: &buffer)
                if n <= 0 { break }
                let chunk = Array(buffer[0..<n])
                // The order a replica writes in: its own clients (the echo) first, then the peers.
                for fd in [upstream] + downstream { _ = PlainSocket.writeAll(fd, chunk) }
            }
            for fd in downstream { close(fd) }
            close(upstream)
        case "b":
            let client = PlainSocket.accept(listenFd)
            let upstream = PlainSocket.accept(listenFd)
            guard client >= 0, upstream >= 0 else { Out.fail("floor-relay b: accept failed") }
            let reader = Reader(fd: upstream, epoll: epoll)
            while true {
                let n = reader.read(into: &buffer)
                if n <= 0 { break }
                guard PlainSocket.writeAll(client, Array(buffer[0..<n])) else { break }
            }
            close(client)
            close(upstream)
        default:
            let upstream = PlainSocket.accept(listenFd)
            guard upstream >= 0 else { Out.fail("floor-relay c: accept failed") }
            let reader = Reader(fd: upstream, epoll: epoll)
            while reader.read(into: &buffer) > 0 {}
            close(upstream)
        }
        close(listenFd)
    }

    /// The same relay on NetKit (our event loop, connections and write batching): the loop's own cost.
    static func netKitRelay(role: String, to: String) -> Never {
        let loop: EventLoop
        do { loop = try EventLoop(name: "relay-\(role)") } catch { Out.fail("floor-relay \(role): \(error)") }
        let relay = NetKitRelay(loop: loop, role: role)
        let ports = to.split(separator: ",").compactMap { UInt16($0) }
        loop.execute { relay.start(downstreamPorts: ports) }
        loop.run()
        exit(0)
    }

    /// State of a NetKit relay, confined to its loop.
    final class NetKitRelay: @unchecked Sendable {
        let loop: EventLoop
        let role: String
        var downstream: [TCPConnection] = []
        var accepted: [TCPConnection] = []
        var listener: TCPListener?

        init(loop: EventLoop, role: String) {
            self.loop = loop
            self.role = role
        }

        func start(downstreamPorts ports: [UInt16]) {
            guard role == "a" else { return listen() }
            for port in ports {
                TCPConnection.connect(loop: loop, to: try! SocketAddress(host: "127.0.0.1", port: port)) { [self] result in
                    guard case .success(let conn) = result else { Out.fail("floor-relay a: cannot connect") }
                    downstream.append(conn)
                    if downstream.count == ports.count { listen() }
                }
            }
        }

        func listen() {
            do {
                listener = try TCPListener(loop: loop, address: try SocketAddress(host: "127.0.0.1", port: 0)) {
                    [self] conn in accepted(conn)
                }
            } catch {
                Out.fail("floor-relay \(role): cannot listen: \(error)")
            }
            Out.line("port \(listener!.localAddress.port)")
        }

        func accepted(_ conn: TCPConnection) {
            accepted.append(conn)
            conn.onClose = { _ in exit(0) }
            switch role {
            case "a":
                conn.onRead = { [self] bytes in
                    let chunk = Array(bytes)
                    conn.write(chunk)
                    for d in downstream { d.write(chunk) }
                }
            case "b":
                // The first connection is the receiver, the second is a.
                if accepted.count == 2 {
                    let client = accepted[0]
                    conn.onRead = { bytes in client.write(Array(bytes)) }
                }
            default:
                conn.onRead = { _ in }
            }
        }
    }

    /// Reads one socket, sleeping either in `epoll_wait` (then a non-blocking `read`, as an event loop does) or
    /// in a blocking `read`.
    struct Reader {
        let fd: Int32
        let epfd: Int32

        init(fd: Int32, epoll: Bool) {
            self.fd = fd
            guard epoll else {
                epfd = -1
                return
            }
            epfd = epoll_create1(0)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = csystem_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, 0x001, 0)
        }

        /// Bytes read, 0 at end of stream, -1 on error.
        func read(into buffer: inout [UInt8]) -> Int {
            while true {
                if epfd >= 0 {
                    var events: UInt32 = 0
                    var data: UInt64 = 0
                    let n = csystem_epoll_wait(epfd, &events, &data, 1, -1)
                    if n < 0 && errno != EINTR { return -1 }
                    if n <= 0 { continue }
                }
                let n = Glibc.read(fd, &buffer, buffer.count)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                return n
            }
        }
    }

    // MARK: Records

    static func store(_ value: UInt64, at offset: Int, in bytes: inout [UInt8]) {
        for k in 0..<8 { bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
    }

    static func load(at offset: Int, in bytes: [UInt8]) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[offset + k]) << (8 * UInt64(k)) }
        return v
    }
}
