import Foundation
import Glibc
import NetKit
import Synchronization

/// What the benchmarks read from /proc, and small process helpers.
enum SystemInfo {
    /// The three load averages from /proc/loadavg, e.g. "2.31 1.90 1.75".
    static func loadAverage() -> String {
        guard let text = readWhole("/proc/loadavg") else { return "?" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// `VmRSS` of a process in bytes.
    static func rssBytes(pid: Int32) -> Int? {
        guard let text = readWhole("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kb = Int(fields[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// Pages of kernel memory held by TCP socket buffers (`TCP: … mem N` in /proc/net/sockstat).
    static func tcpMemoryPages() -> Int? {
        guard let text = readWhole("/proc/net/sockstat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("TCP:") {
            let f = line.split(separator: " ")
            if let i = f.firstIndex(of: "mem"), i + 1 < f.count { return Int(f[i + 1]) }
        }
        return nil
    }

    /// The process listening on TCP `port` (any local address), found through the socket's inode in
    /// /proc/net/tcp{,6} and the `socket:[inode]` links under /proc/*/fd.
    static func pidListening(port: UInt16) -> Int32? {
        var inodes = Set<String>()
        let portHex = String(format: "%04X", port)
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = readWhole(file) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
                guard f.count >= 10, f[3] == "0A", f[1].hasSuffix(":" + portHex) else { continue }
                inodes.insert(String(f[9]))
            }
        }
        guard !inodes.isEmpty else { return nil }
        let targets = Set(inodes.map { "socket:[\($0)]" })
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        var buf = [CChar](repeating: 0, count: 256)
        for name in pids {
            guard let pid = Int32(name) else { continue }
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
            for fd in fds {
                let n = readlink("/proc/\(pid)/fd/\(fd)", &buf, buf.count - 1)
                guard n > 0 else { continue }
                let link = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if targets.contains(link) { return pid }
            }
        }
        return nil
    }

    /// A whole file read with plain `read` calls: procfs files claim size 0 and Foundation's readers stop
    /// after the first page of /proc/net/tcp.
    static func readWhole(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            out.append(contentsOf: buf[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A TCP port free on 127.0.0.1 right now (bound to port 0 and released).
    static func freePort() -> UInt16? {
        let fd = PlainSocket.tcp()
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return PlainSocket.bind(fd, PlainSocket.loopback, port: 0) ? PlainSocket.localPort(fd) : nil
    }

    /// Body of `GET path` on an IPv4 host (or localhost), or nil on any failure or after `timeoutSeconds`.
    static func httpGet(host: String, port: UInt16, path: String, timeoutSeconds: Int) -> [UInt8]? {
        guard let octets = host == "localhost" ? PlainSocket.loopback : IPv4.parse(host) else { return nil }
        let fd = PlainSocket.connect(to: octets, port: port, timeoutSeconds: timeoutSeconds)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard PlainSocket.writeAll(fd, request) else { return nil }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while response.count < 4 << 20 {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            response.append(contentsOf: chunk[0..<n])
        }
        guard response.starts(with: Array("HTTP/1.1 200".utf8)), let end = find(Array("\r\n\r\n".utf8), in: response) else {
            return nil
        }
        return Array(response[(end + 4)...])
    }

    /// This executable, for spawning ourselves as a child.
    static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 { return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments[0]
    }

    /// 16 random bytes as hex.
    static func randomHex(bytes: Int = 16) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}

/// A child process of ours with line-based stdout (read on a background thread) and a stdin to send
/// commands to. Its stderr goes to ours.
final class ChildProcess: @unchecked Sendable {
    let name: String
    let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let lines = Mutex<[String]>([])
    private let arrived = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)

    init(name: String, arguments: [String]) throws {
        self.name = name
        process.executableURL = URL(fileURLWithPath: SystemInfo.executablePath())
        process.arguments = arguments
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = FileHandle.standardError
        process.terminationHandler = { [exited] _ in exited.signal() }
        try process.run()
        let handle = stdoutPipe.fileHandleForReading
        let thread = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    lines.withLock { $0.append(line) }
                    arrived.signal()
                }
            }
            lines.withLock { $0.append("\u{0}eof") }
            arrived.signal()
        }
        thread.start()
    }

    /// The next stdout line, waiting until `deadline` (monotonic nanos); nil on timeout or end of output.
    func nextLine(deadline: UInt64) -> String? {
        while true {
            if let line = lines.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                return line == "\u{0}eof" ? nil : line
            }
            let now = monotonicNanos()
            guard now < deadline else { return nil }
            _ = arrived.wait(timeout: .now() + .nanoseconds(Int(min(deadline - now, 1_000_000_000))))
        }
    }

    /// The next line starting with `prefix` (others are skipped), or nil.
    func line(startingWith prefix: String, deadline: UInt64) -> String? {
        while let line = nextLine(deadline: deadline) {
            if line.hasPrefix(prefix) { return line }
        }
        return nil
    }

    func send(_ line: String) {
        try? stdinPipe.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Waits for the child to exit; SIGTERM then SIGKILL once `deadline` passes.
    func waitForExit(deadline: UInt64) {
        let now = monotonicNanos()
        if now < deadline, exited.wait(timeout: .now() + .nanoseconds(Int(deadline - now))) == .success { return }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if exited.wait(timeout: .now() + 2) == .success { return }
        kill(process.processIdentifier, SIGKILL)
        _ = exited.wait(timeout: .now() + 2)
    }
}

