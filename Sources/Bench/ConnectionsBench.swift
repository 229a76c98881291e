import Foundation
import Glibc
import NetKit

/// `Bench connections`: many idle, handshaken SignalR WebSocket connections on one replica; the replica's RSS
/// per connection; then how long one broadcast takes to reach all of them.
///
/// A process may hold only 20 000 descriptors here, so the clients live in `--procs` child processes
/// (`conn-worker`), each binding its sockets to the `--sources` loopback addresses in turn (a source/destination
/// pair has ~28k ephemeral ports). The children talk to the parent in lines on stdin/stdout:
/// `opened <ok> <failed> <seconds>` → parent `arm` → `armed` → parent broadcasts → `got <n> <lastNanos>` → `quit`.
/// CLOCK_MONOTONIC is one clock for every process, so the children's receive times compare with the parent's
/// send time directly.
enum ConnectionsBench {
    static let usage = """
        Bench connections [--url http://127.0.0.1:5001/chatHub] [--count 19000] [--procs N]
                          [--sources 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5] [--pid PID] [--hold 2]
                          [--timeout 300]
            Opens --count idle WebSocket hub connections (skipNegotiation, JSON handshake) over --procs child
            processes (default: one per 9 500 connections), reads the server's VmRSS before and after (pid from
            --pid or from the listening port), prints bytes per connection, then times one broadcast to all.
        """

    static func run(_ args: [String]) throws(UsageError) {
        let flags = try Flags(
            command: "connections", args, valued: ["url", "count", "procs", "sources", "pid", "hold", "timeout"])
        let url = try flags.url("url", default: "http://127.0.0.1:5001/chatHub")
        let count = try flags.int("count", default: 19_000, min: 1, max: 1_000_000)
        let procs = try flags.int("procs", default: (count + 9_499) / 9_500, min: 1, max: 64)
        let sources = try parseSources(flags.string("sources", default: "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5"))
        let hold = try flags.double("hold", default: 2, min: 0)
        let timeout = try flags.double("timeout", default: 300, min: 10)
        guard (count + procs - 1) / procs <= 19_500 else {
            throw UsageError("connections: at most 19 500 connections per process (descriptor limit): use --procs \((count + 19_499) / 19_500) or more")
        }
        let deadline = monotonicNanos() + UInt64(timeout * 1e9)
        let pid: Int32
        if flags.has("pid") {
            pid = Int32(try flags.int("pid", default: 0, min: 1, max: Int(Int32.max)))
        } else {
            guard let found = SystemInfo.pidListening(port: url.port) else {
                Out.fail("nothing listens on port \(url.port) (start the replicas, or pass --pid)")
            }
            pid = found
        }
        Out.progress("server pid \(pid); load average \(SystemInfo.loadAverage())")

        // The broadcasting client connects first, so the "before" figure already includes it.
        let broadcaster: BlockingHubSocket
        do {
            broadcaster = try BlockingHubSocket.open(url: url, source: nil)
        } catch {
            Out.fail("broadcaster: \(error)")
        }
        usleep(300_000)
        guard let rssBefore = SystemInfo.rssBytes(pid: pid) else { Out.fail("cannot read /proc/\(pid)/status") }
        let tcpBefore = SystemInfo.tcpMemoryPages()

        var workers: [ChildProcess] = []
        let started = monotonicNanos()
        for i in 0..<procs {
            let share = count / procs + (i < count % procs ? 1 : 0)
            // Each worker starts at a different source so the addresses fill evenly.
            let rotated = Array(sources[(i % sources.count)...] + sources[..<(i % sources.count)])
            do {
                workers.append(
                    try ChildProcess(
                        name: "worker\(i)",
                        arguments: [
                            "conn-worker", "--url", url.description, "--count", "\(share)",
                            "--sources", rotated.joined(separator: ","), "--timeout", "\(Int(timeout))",
                        ]))
            } catch {
                Out.fail("cannot spawn a worker: \(error)")
            }
        }
        var opened = 0
        var failed = 0
        for w in workers {
            guard let line = w.line(startingWith: "opened ", deadline: deadline) else {
                stopAll(workers, deadline: deadline)
                Out.fail("\(w.name) did not finish opening its connections in time")
            }
            let f = line.split(separator: " ")
            opened += Int(f[1]) ?? 0
            failed += Int(f[2]) ?? 0
        }
        let openSeconds = Double(monotonicNanos() - started) / 1e9
        Out.progress(String(format: "opened %d connections (%d failed) in %.1f s; holding %.0f s", opened, failed, openSeconds, hold))
        LatencyBench.sleepUntil(monotonicNanos() + UInt64(hold * 1e9))
        guard let rssAfter = SystemInfo.rssBytes(pid: pid) else { Out.fail("the server (pid \(pid)) is gone") }
        let tcpAfter = SystemInfo.tcpMemoryPages()

        // Broadcast: every worker drains its sockets first, then watches for the marker.
        let marker = "bcast" + SystemInfo.randomHex(bytes: 8)
        for w in workers { w.send("arm \(marker)") }
        for w in workers where w.line(startingWith: "armed", deadline: deadline) == nil {
            Out.progress("warning: \(w.name) did not arm")
        }
        let sentAt = monotonicNanos()
        var record = [UInt8]()
        Array(marker.utf8).withUnsafeBytes { HubMessages.appendSendMessage(user: "bench", message: $0, into: &record) }
        broadcaster.sendRecord(record)
        var received = 0
        var last: UInt64 = 0
        var first: UInt64 = .max
        for w in workers {
            guard let line = w.line(startingWith: "got ", deadline: deadline) else { continue }
            let f = line.split(separator: " ")
            received += Int(f[1]) ?? 0
            last = max(last, UInt64(f[2]) ?? 0)
            first = min(first, UInt64(f[3]) ?? .max)
        }
        usleep(200_000)
        let rssAfterBroadcast = SystemInfo.rssBytes(pid: pid) ?? 0
        stopAll(workers, deadline: deadline)
        broadcaster.close()

        let delta = rssAfter - rssBefore
        Out.line("connections: \(opened) open (\(failed) failed) to \(url) over \(procs) processes, sources \(sources.joined(separator: ","))")
        Out.line(String(format: "  opened in %.1f s (%.0f/s); load average %@", openSeconds, Double(opened) / openSeconds, SystemInfo.loadAverage()))
        Out.line(
            String(
                format: "  server RSS: before %.1f MiB, after %.1f MiB, +%.1f MiB = %.0f bytes (%.2f KB) per connection",
                Double(rssBefore) / 1048576, Double(rssAfter) / 1048576, Double(delta) / 1048576,
                Double(delta) / Double(max(opened, 1)), Double(delta) / Double(max(opened, 1)) / 1000))
        if let a = tcpAfter, let b = tcpBefore {
            Out.line(
                String(
                    format: "  kernel TCP buffers (all sockets, both ends, /proc/net/sockstat): +%.1f MiB", Double((a - b) * 4096) / 1048576))
        }
        if received > 0 {
            Out.line(
                String(
                    format: "  broadcast: %d of %d connections received it; first after %.1f ms, all after %.1f ms",
                    received, opened, Double(first &- sentAt) / 1e6, Double(last &- sentAt) / 1e6))
        } else {
            Out.line("  broadcast: no connection received it")
        }
        Out.line(String(format: "  server RSS after the broadcast: %.1f MiB", Double(rssAfterBroadcast) / 1048576))
    }

    private static func parseSources(_ text: String) throws(UsageError) -> [String] {
        let list = text.split(separator: ",").map(String.init)
        guard !list.isEmpty else { throw UsageError("connections: --sources needs at least one address") }
        for s in list where IPv4.parse(s) == nil {
            throw UsageError("connections: --sources: '\(s)' is not an IPv4 address")
        }
        return list
    }

    private static func stopAll(_ workers: [ChildProcess], deadline: UInt64) {
        for w in workers { w.send("quit") }
        for w in workers { w.waitForExit(deadline: min(deadline, monotonicNanos() + 10_000_000_000)) }
    }

    // MARK: - Worker

    /// `Bench conn-worker --url URL --count N --sources A,B --timeout S`
    static func worker(_ args: [String]) throws(UsageError) {
        let flags = try Flags(command: "conn-worker", args, valued: ["url", "count", "sources", "timeout"])
        let url = try flags.url("url", default: "http://127.0.0.1:5001/chatHub")
        let count = try flags.int("count", default: 1, max: 19_500)
        let sources = try parseSources(flags.string("sources", default: "127.0.0.2"))
        let timeout = try flags.double("timeout", default: 300, min: 10)
        let deadline = monotonicNanos() + UInt64(timeout * 1e9)
        let pool = ConnectionPool(url: url, sources: sources)
        let t0 = monotonicNanos()
        let failed = pool.open(count: count, deadline: deadline)
        Out.line("opened \(pool.fds.count) \(failed) \(Double(monotonicNanos() - t0) / 1e9)")
        // Commands from the parent; keep-alive pings while waiting (the server drops clients silent for 30 s).
        let input = LineReader(fd: 0)
        var lastPing = monotonicNanos()
        while monotonicNanos() < deadline {
            if monotonicNanos() - lastPing > 10_000_000_000 {
                pool.pingAll()
                lastPing = monotonicNanos()
            }
            guard let line = input.next(timeoutMillis: 500) else { continue }
            if line == "\u{0}eof" || line == "quit" { break }
            if line.hasPrefix("arm ") {
                let marker = Array(line.dropFirst(4).utf8)
                pool.drainAll()
                Out.line("armed")
                let (n, last, first) = pool.awaitMarker(marker, deadline: min(deadline, monotonicNanos() + 30_000_000_000))
                Out.line("got \(n) \(last) \(first)")
            }
        }
        pool.closeAll()
    }
}

/// A worker's idle hub connections: plain blocking sockets for opening (pipelined in batches), non-blocking
/// afterwards, and `poll` to watch them all for one broadcast.
final class ConnectionPool {
    let url: HubURL
    let sources: [[UInt8]]
    private(set) var fds: [Int32] = []
    private var mask = MaskSource()
    private var lastPing: UInt64 = monotonicNanos()

    init(url: HubURL, sources: [String]) {
        self.url = url
        self.sources = sources.map { IPv4.parse($0)! }
    }

    /// Opens `count` connections, `batch` at a time: connect + upgrade + handshake written for the whole batch,
    /// then the answers read. Returns how many failed.
    func open(count: Int, deadline: UInt64, batch: Int = 128) -> Int {
        var failed = 0
        var next = 0
        var lastError = ""
        while next < count && monotonicNanos() < deadline {
            let n = min(batch, count - next)
            var pending: [(fd: Int32, key: String)] = []
            for k in 0..<n {
                let source = sources[(next + k) % sources.count]
                do {
                    let fd = try BlockingHubSocket.connect(url: url, source: source)
                    let key = Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
                    let request = ClientRequests.upgradeAndHandshake(url, token: nil, key: key, mask: &mask)
                    guard PlainSocket.writeAll(fd, request) else {
                        close(fd)
                        failed += 1
                        lastError = "write: \(SystemError("write"))"
                        continue
                    }
                    pending.append((fd, key))
                } catch {
                    failed += 1
                    lastError = "\(error)"
                }
            }
            for (fd, _) in pending {
                do {
                    try BlockingHubSocket.awaitHandshake(fd)
                    BlockingHubSocket.setNonBlocking(fd)
                    fds.append(fd)
                } catch {
                    close(fd)
                    failed += 1
                    lastError = "\(error)"
                }
            }
            next += n
            if monotonicNanos() - lastPing > 10_000_000_000 { pingAll() }
        }
        if failed > 0 { Out.progress("conn-worker: \(failed) connections failed; last error: \(lastError)") }
        return failed + (count - next)
    }

    /// A hub ping on every connection (non-blocking; a full socket just skips one).
    func pingAll() {
        lastPing = monotonicNanos()
        var frame = [UInt8]()
        for fd in fds {
            frame.removeAll(keepingCapacity: true)
            ClientFrame.appendText(HubMessages.ping, mask: mask.next(), into: &frame)
            _ = frame.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Reads and discards whatever is waiting on every socket (server pings).
    func drainAll() {
        var buf = [UInt8](repeating: 0, count: 4096)
        for fd in fds {
            while recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT)) > 0 {}
        }
    }

    /// Polls every socket until each has received `marker`. Returns how many did, and the monotonic times of
    /// the last and the first arrival.
    func awaitMarker(_ marker: [UInt8], deadline: UInt64) -> (Int, UInt64, UInt64) {
        var waiting = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var tails = [Int32: [UInt8]]()
        var got = 0
        var last: UInt64 = 0
        var first: UInt64 = .max
        var buf = [UInt8](repeating: 0, count: 8192)
        while !waiting.isEmpty && monotonicNanos() < deadline {
            let r = poll(&waiting, nfds_t(waiting.count), 100)
            guard r > 0 else { continue }
            let now = monotonicNanos()
            var keep: [pollfd] = []
            keep.reserveCapacity(waiting.count)
            for p in waiting {
                guard p.revents != 0 else {
                    keep.append(pollfd(fd: p.fd, events: p.events, revents: 0))
                    continue
                }
                var seen = tails[p.fd] ?? []
                var found = false
                var closed = false
                while true {
                    let n = recv(p.fd, &buf, buf.count, Int32(MSG_DONTWAIT))
                    if n > 0 {
                        seen.append(contentsOf: buf[0..<n])
                        if find(marker, in: seen) != nil { found = true }
                        if seen.count > 256 { seen.removeFirst(seen.count - 256) }
                    } else {
                        if n == 0 || (errno != EAGAIN && errno != EINTR) { closed = true }
                        break
                    }
                }
                if found {
                    got += 1
                    last = max(last, now)
                    first = min(first, now)
                    tails[p.fd] = nil
                } else if !closed {
                    tails[p.fd] = seen
                    keep.append(pollfd(fd: p.fd, events: p.events, revents: 0))
                }
            }
            waiting = keep
        }
        return (got, last, first)
    }

    func closeAll() {
        for fd in fds { close(fd) }
        fds = []
    }
}

/// Blocking-socket helpers for the connection benchmark (one syscall per step, no event loop needed).
struct BlockingHubSocket {
    let fd: Int32

    /// A connected, handshaken hub connection (blocking).
    static func open(url: HubURL, source: [UInt8]?) throws(WireError) -> BlockingHubSocket {
        let fd = try connect(url: url, source: source)
        var mask = MaskSource()
        let key = Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        guard PlainSocket.writeAll(fd, ClientRequests.upgradeAndHandshake(url, token: nil, key: key, mask: &mask)) else {
            Glibc.close(fd)
            throw WireError("write: \(SystemError("write"))")
        }
        do {
            try awaitHandshake(fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        return BlockingHubSocket(fd: fd)
    }

    func sendRecord(_ record: [UInt8]) {
        var mask = MaskSource()
        var frame = [UInt8]()
        ClientFrame.appendText(record, mask: mask.next(), into: &frame)
        _ = PlainSocket.writeAll(fd, frame)
    }

    func close() { Glibc.close(fd) }

    /// A blocking TCP connection to the hub's host, bound to `source` (port chosen at connect time, so every
    /// source address gets the whole ephemeral range per destination).
    static func connect(url: HubURL, source: [UInt8]?) throws(WireError) -> Int32 {
        let fd = PlainSocket.tcp(timeoutSeconds: 10)
        guard fd >= 0 else { throw WireError("socket: \(SystemError("socket"))") }
        if let source {
            // IP_BIND_ADDRESS_NO_PORT (24): defer the port choice to connect().
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_IP), 24, &one, socklen_t(MemoryLayout<Int32>.size))
            guard PlainSocket.bind(fd, source, port: 0) else {
                let e = SystemError("bind")
                Glibc.close(fd)
                throw WireError("\(e)")
            }
        }
        guard PlainSocket.connect(fd, IPv4.parse(url.host)!, port: url.port) else {
            let e = SystemError("connect")
            Glibc.close(fd)
            throw WireError("\(e)")
        }
        return fd
    }


    /// Reads the 101 response and the hub's `{}` answer (blocking, 10 s receive timeout).
    static func awaitHandshake(_ fd: Int32) throws(WireError) {
        var inbound = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 2048)
        var head: HTTPResponseHead?
        var parser = ServerFrameParser()
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                throw WireError(n == 0 ? "closed during the handshake" : "handshake: \(SystemError("recv"))")
            }
            if head == nil {
                inbound.append(contentsOf: buf[0..<n])
                guard let h = try HTTPResponseHead.parse(inbound) else { continue }
                guard h.status == 101 else { throw WireError("upgrade refused: HTTP \(h.status)") }
                head = h
                parser.append(Array(inbound[h.length...]))
            } else {
                buf.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            while let event = try parser.next() {
                guard case .text(let message) = event else { continue }
                var ok = false
                var refused: String?
                forEachRecord(message) { record in
                    if record.elementsEqual("{}".utf8) { ok = true } else if !ok { refused = String(decoding: record, as: UTF8.self) }
                }
                if ok { return }
                if let refused { throw WireError("hub handshake refused: \(refused)") }
            }
        }
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var tv = timeval(tv_sec: 0, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// Line reader on a raw descriptor with a timeout (the worker's command channel).
final class LineReader {
    let fd: Int32
    private var pending: [UInt8] = []
    private var eof = false

    init(fd: Int32) { self.fd = fd }

    /// The next line, "\u{0}eof" at end of input, or nil after `timeoutMillis` without one.
    func next(timeoutMillis: Int32) -> String? {
        while true {
            if let nl = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[0..<nl], as: UTF8.self)
                pending.removeSubrange(0...nl)
                return line
            }
            if eof { return "\u{0}eof" }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, timeoutMillis) > 0 else { return nil }
            var buf = [UInt8](repeating: 0, count: 1024)
            let n = read(fd, &buf, buf.count)
            if n <= 0 {
                eof = true
            } else {
                pending.append(contentsOf: buf[0..<n])
            }
        }
    }
}
