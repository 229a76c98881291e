import CSystem
import Glibc

/// A listening socket on an ``EventLoop`` that hands each accepted connection to `onAccept`.
///
/// Binds with `SO_REUSEADDR` (a restarted process can bind at once after kill -9, even with sockets in TIME_WAIT) and
/// never `SO_REUSEPORT` (a second copy of the same replica must get "address in use"). At the descriptor limit it stops
/// accepting for a short while instead of spinning on EMFILE.
public final class TCPListener: EventHandler {
    public let fd: Int32
    public let loop: EventLoop
    public let localAddress: SocketAddress
    private let onAccept: (TCPConnection) -> Void
    /// Spreads accepted sockets over these loops (nil: every socket stays on `loop`).
    private let spread: IOLoopGroup?
    private let logger = Logger(label: "listener")
    private var paused = false
    private var closed = false
    private var lastLimitWarning: UInt64 = 0
    /// Connections refused since start because the process was out of descriptors.
    public private(set) var acceptBackoffs = 0

    /// - Parameter spread: hands accepted sockets round-robin to these loops' I/O loops (offloaded connections, still
    ///   owned by `loop`, which must be the group's control loop); nil: every socket's syscalls run on `loop`.
    public init(
        loop: EventLoop, address: SocketAddress, backlog: Int32 = 4096, spread: IOLoopGroup? = nil,
        onAccept: @escaping (TCPConnection) -> Void
    ) throws {
        precondition(spread == nil || spread!.control === loop, "a listener spreads over its own loop's group")
        self.loop = loop
        self.onAccept = onAccept
        self.spread = spread
        let family = address.family == .v4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if address.family == .v6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let rc = address.withSockAddr { bind(fd, $0, $1) }
        guard rc == 0 else {
            let e = SystemError("bind")
            Glibc.close(fd)
            throw e
        }
        guard listen(fd, backlog) == 0 else {
            let e = SystemError("listen")
            Glibc.close(fd)
            throw e
        }
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.fd = fd
        self.localAddress = SocketAddress.from(storage: storage) ?? address
        try loop.register(fd: fd, handler: self, events: IOEvent.readable)
    }

    public func handleEvents(_ events: UInt32) {
        guard !closed, !paused else { return }
        for _ in 0..<256 {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let cfd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    csystem_accept4(fd, $0, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if cfd < 0 {
                let e = errno
                switch e {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    backOff(SystemError("accept4", errno: e))
                    return
                default:
                    logger.warning("accept failed", ["error": "\(SystemError("accept4", errno: e))"])
                    return
                }
            }
            do {
                let remote = SocketAddress.from(storage: storage)
                if let spread, let shard = spread.nextShard() {
                    onAccept(spread.adopt(fd: cfd, remote: remote, shard: shard))
                    continue
                }
                let conn = try TCPConnection.adopt(fd: cfd, loop: loop, remote: remote)
                onAccept(conn)
            } catch {
                // epoll refused the descriptor (ENOMEM/ENOSPC): drop this client, keep serving the others.
                Glibc.close(cfd)
                let now = monotonicNanos()
                if now &- lastLimitWarning > 5_000_000_000 {
                    lastLimitWarning = now
                    logger.warning("dropped an accepted connection", ["error": "\(error)"])
                }
            }
        }
    }

    /// Out of descriptors: stop polling the listen socket for 100 ms (level-triggered epoll would otherwise spin).
    private func backOff(_ error: SystemError) {
        acceptBackoffs += 1
        paused = true
        loop.modify(fd: fd, events: 0)
        let now = monotonicNanos()
        if now &- lastLimitWarning > 5_000_000_000 {
            lastLimitWarning = now
            logger.warning("accept paused: descriptor limit reached", ["error": "\(error)", "pause": "100ms"])
        }
        loop.schedule(afterNanos: 100_000_000) { [weak self] in
            guard let self, !self.closed else { return }
            self.paused = false
            self.loop.modify(fd: self.fd, events: IOEvent.readable)
        }
    }

    public func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(fd: fd)
        Glibc.close(fd)
    }
}
