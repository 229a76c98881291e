import Glibc
import NetKit

/// Blocking IPv4 TCP sockets for the parts of the benchmarks that don't run an event loop (connection workers,
/// the floor's relays, one-off HTTP requests).
enum PlainSocket {
    static let loopback: [UInt8] = [127, 0, 0, 1]

    static func address(_ octets: [UInt8], port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = UInt32(octets[0]) | UInt32(octets[1]) << 8 | UInt32(octets[2]) << 16 | UInt32(octets[3]) << 24
        return sa
    }

    /// A new TCP socket with TCP_NODELAY and, if given, send and receive timeouts; -1 on failure.
    static func tcp(timeoutSeconds: Int? = nil) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        setNoDelay(fd)
        if let timeoutSeconds {
            var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        return fd
    }

    static func bind(_ fd: Int32, _ octets: [UInt8], port: UInt16) -> Bool {
        var sa = address(octets, port: port)
        return withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Connects `fd`; on false, `errno` says why.
    static func connect(_ fd: Int32, _ octets: [UInt8], port: UInt16) -> Bool {
        var sa = address(octets, port: port)
        return withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// A connected socket (see ``tcp(timeoutSeconds:)``), or -1.
    static func connect(to octets: [UInt8], port: UInt16, timeoutSeconds: Int? = nil) -> Int32 {
        let fd = tcp(timeoutSeconds: timeoutSeconds)
        guard fd >= 0 else { return -1 }
        guard connect(fd, octets, port: port) else {
            close(fd)
            return -1
        }
        return fd
    }

    static func localPort(_ fd: Int32) -> UInt16? {
        var sa = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        } == 0
        return ok ? UInt16(bigEndian: sa.sin_port) : nil
    }

    /// The next accepted connection with TCP_NODELAY, or -1.
    static func accept(_ listenFd: Int32) -> Int32 {
        let fd = Glibc.accept(listenFd, nil, nil)
        if fd >= 0 { setNoDelay(fd) }
        return fd
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends all of `bytes` (no SIGPIPE); false on error or a send timeout.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            off += n
        }
        return true
    }
}
