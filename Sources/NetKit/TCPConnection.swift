import CSystem
import Glibc
import Synchronization

/// Why a connection ended.
public enum TCPCloseReason: Equatable, Sendable, CustomStringConvertible {
    /// We closed it (after flushing what was queued, or by abort).
    case local
    /// The peer closed its side.
    case peerClosed
    /// More than ``TCPConnection/maxPendingWriteBytes`` were queued: the peer doesn't read fast enough.
    case slowConsumer
    /// A socket error.
    case error(SystemError)

    public var description: String {
        switch self {
        case .local: return "closed locally"
        case .peerClosed: return "closed by peer"
        case .slowConsumer: return "slow consumer (outbound cap exceeded)"
        case .error(let e): return e.description
        }
    }
}

/// A non-blocking TCP socket owned by one ``EventLoop``.
///
/// Writes are queued as shared byte arrays (a broadcast queues the same array on every connection, no copy) and
/// leave at the end of the loop iteration in one `writev`, so messages queued together become one syscall.
/// The queue is capped: past ``maxPendingWriteBytes`` the connection is dropped instead of buffering forever.
///
/// An *offloaded* connection (accepted through an ``IOLoopGroup``) has the same API and stays confined to `loop`,
/// but another loop does its syscalls: its writes go there in order, one task per loop and turn for all its
/// connections, and its reads and its end come back the same way. ``onDrained`` is not called for it.
public final class TCPConnection: EventHandler {
    public let fd: Int32
    public let loop: EventLoop
    public let remoteAddress: SocketAddress?

    /// Bytes arrived. The buffer is only valid during the call.
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    /// Called exactly once when the connection is gone.
    public var onClose: ((TCPCloseReason) -> Void)?
    /// Called when a non-empty write queue has fully drained (pull-style producers refill here).
    public var onDrained: (() -> Void)?

    /// Cap on queued, unsent bytes. Default 4 MiB.
    public var maxPendingWriteBytes: Int = 4 << 20

    private var chunks: [[UInt8]] = []
    private var chunkHead = 0
    private var headOffset = 0
    /// Bytes queued here and not yet written (a direct connection).
    private var queuedBytes = 0
    /// Bytes queued and not yet written: here, or on the loop doing an offloaded connection's syscalls.
    public var pendingWriteBytes: Int {
        if let offload { return offload.unsent.value.load(ordering: .relaxed) }
        return queuedBytes
    }
    var inFlushList = false
    /// Set on a connection whose syscalls another loop does (see ``IOLoopGroup``).
    let offload: Offload?
    /// Set on the I/O loop's side of an offloaded connection: what it wrote is taken off the owner's count.
    var unsentCounter: UnsentBytes?
    /// Reads of an offloaded connection that came back while reading was paused, delivered when it resumes.
    private var heldReads: [[UInt8]] = []
    private var deliveringHeld = false
    private var registeredEvents: UInt32 = 0
    private var readPaused = false

    /// The ``SharedOutput`` this connection gets passes from, its index among the members (an offloaded one: the
    /// index of its I/O loop's mirror there), and how much of the pass being built (`sharedGeneration`) it already
    /// has queued. Held strongly (as the output holds its members): an output lives while it has members, and the
    /// cycle ends when the connection leaves or closes.
    public internal(set) var sharedOutput: SharedOutput?
    var sharedSlot = -1
    var sharedGeneration: UInt64 = 0
    var sharedOffset = 0
    /// On an I/O loop's side of an offloaded connection: the owner's cap, for what shared passes queue here.
    var sharedCap = Int.max

    private enum State { case open, closingAfterFlush, lingering, closed }
    private var state: State = .open
    private var lingerTimer: TimerID?

    public var isOpen: Bool { state == .open }
    public var isClosed: Bool { state == .closed }

    /// Total bytes read and written (for stats).
    public private(set) var bytesRead: UInt64 = 0
    public private(set) var bytesWritten: UInt64 = 0

    init(fd: Int32, loop: EventLoop, remote: SocketAddress?, offload: Offload? = nil) {
        self.fd = fd
        self.loop = loop
        self.remoteAddress = remote
        self.offload = offload
    }

    /// Takes ownership of an accepted or connected descriptor and starts reading.
    static func adopt(fd: Int32, loop: EventLoop, remote: SocketAddress?) throws -> TCPConnection {
        let conn = TCPConnection(fd: fd, loop: loop, remote: remote)
        try conn.register()
        return conn
    }

    /// Sets TCP_NODELAY and starts reading. Loop thread.
    func register() throws {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        registeredEvents = IOEvent.readable | IOEvent.readHangup
        try loop.register(fd: fd, handler: self, events: registeredEvents)
    }

    // MARK: Writing

    /// Queues bytes; they leave at the end of this loop iteration (or earlier with ``flush()``). Broadcast bytes
    /// of this turn from the connection's ``SharedOutput`` that it hasn't had yet go first.
    public func write(_ bytes: [UInt8]) {
        guard state == .open, !bytes.isEmpty else { return }
        if let shared = sharedOutput, shared.hasPendingBytes { catchUp(shared) }
        enqueue(bytes)
    }

    /// Queues what this turn's shared bytes hold that this connection hasn't had yet (before a write of its own,
    /// or before it leaves its output).
    public func catchUpSharedOutput() {
        guard state == .open, let shared = sharedOutput, shared.hasPendingBytes else { return }
        catchUp(shared)
    }

    private func catchUp(_ shared: SharedOutput) {
        let all = shared.bytes
        let from = sharedGeneration == shared.generation ? sharedOffset : 0
        sharedGeneration = shared.generation
        sharedOffset = all.count
        if from < all.count { enqueue(from == 0 ? all : Array(all[from...])) }
        if let offload { offload.shard.send(.sharedMark(offload.peer, generation: sharedGeneration, offset: sharedOffset)) }
    }

    /// Records that this connection has the pass `generation`'s bytes up to `offset` (joined then, or skipped a
    /// frame); an offloaded connection's I/O loop hears of it in order with its writes.
    func markShared(generation: UInt64, offset: Int) {
        sharedGeneration = generation
        sharedOffset = offset
        if let offload { offload.shard.send(.sharedMark(offload.peer, generation: generation, offset: offset)) }
    }

    /// Stops getting passes from its ``SharedOutput`` (what the output's turn holds and it hasn't had goes first).
    /// A WebSocket does this when it sends its Close frame: nothing may follow it.
    public func leaveSharedOutput() {
        guard let shared = sharedOutput else { return }
        catchUpSharedOutput()
        shared.leave(self)
    }

    /// A pass of `output`: sends what of `all` this connection hasn't had, with one `write` when nothing of its
    /// own is queued (the common case: no copy, no queue), else queued behind its own bytes.
    func writeShared(_ all: [UInt8], generation: UInt64, from output: SharedOutput) {
        guard sharedOutput === output, state == .open else { return }
        let from = sharedGeneration == generation ? sharedOffset : 0
        guard from < all.count else { return }
        if queuedBytes > 0 {
            enqueue(from == 0 ? all : Array(all[from...]), ownerCounted: false)
            return
        }
        loop.willWrite()
        var written: Int
        repeat {
            written = all.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + from, raw.count - from) }
        } while written < 0 && errno == EINTR
        if written < 0 {
            let e = errno
            guard e == EAGAIN || e == EWOULDBLOCK else {
                abort(reason: .error(SystemError("write", errno: e)))
                return
            }
            written = 0
        }
        bytesWritten &+= UInt64(written)
        if from + written == all.count { return }
        // The socket is full: the rest waits for it to drain.
        enableWritable(true)
        enqueue(from == 0 && written == 0 ? all : Array(all[(from + written)...]), ownerCounted: false)
    }

    /// Queues bytes here, or hands them to the loop doing an offloaded connection's syscalls.
    /// `ownerCounted`: false for what an I/O loop's side queues of a shared pass (its owner never saw those bytes):
    /// they are added to the count both sides read, and the owner's cap applies to it.
    private func enqueue(_ bytes: [UInt8], ownerCounted: Bool = true) {
        if let offload {
            let unsent = offload.unsent.value.wrappingAdd(bytes.count, ordering: .relaxed).newValue
            if unsent > maxPendingWriteBytes {
                abort(reason: .slowConsumer)
                return
            }
            offload.shard.send(.write(offload.peer, bytes))
            return
        }
        chunks.append(bytes)
        queuedBytes += bytes.count
        var over = queuedBytes > maxPendingWriteBytes
        if !ownerCounted, let unsentCounter {
            over = unsentCounter.value.wrappingAdd(bytes.count, ordering: .relaxed).newValue > sharedCap
        }
        if over {
            abort(reason: .slowConsumer)
            return
        }
        scheduleFlush()
    }

    private func scheduleFlush() {
        if !inFlushList && registeredEvents & IOEvent.writable == 0 {
            inFlushList = true
            loop.flushList.append(self)
        }
    }

    /// Tries to write the queue now.
    public func flush() {
        guard offload == nil, state == .open || state == .closingAfterFlush else { return }
        writeQueued()
    }

    func flushFromLoop() {
        inFlushList = false
        guard state == .open || state == .closingAfterFlush else { return }
        writeQueued()
    }

    private func writeQueued() {
        while chunkHead < chunks.count {
            let written: Int = chunks.withUnsafeBufferPointer { all in
                // The arrays stay alive in `chunks` for the duration of the call.
                let count = min(all.count - chunkHead, 64)
                loop.willWrite()
                if count == 1 {
                    // One chunk (a broadcast pass queues one frame per connection): a plain write, no iovec.
                    return all[chunkHead].withUnsafeBytes { raw in
                        Glibc.write(fd, raw.baseAddress! + headOffset, raw.count - headOffset)
                    }
                }
                return withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { iov in
                    for k in 0..<count {
                        let off = k == 0 ? headOffset : 0
                        all[chunkHead + k].withUnsafeBytes { raw in
                            iov[k] = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + off), iov_len: raw.count - off)
                        }
                    }
                    return writev(fd, iov.baseAddress!, Int32(count))
                }
            }
            if written < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    enableWritable(true)
                    return
                }
                abort(reason: .error(SystemError("writev", errno: e)))
                return
            }
            bytesWritten &+= UInt64(written)
            queuedBytes -= written
            if let unsentCounter { unsentCounter.value.wrappingSubtract(written, ordering: .relaxed) }
            // Everything left: the chunks are dropped together below, not one by one.
            if queuedBytes == 0 { break }
            var left = written
            while left > 0 {
                let avail = chunks[chunkHead].count - headOffset
                if left >= avail {
                    left -= avail
                    chunks[chunkHead] = []
                    chunkHead += 1
                    headOffset = 0
                } else {
                    headOffset += left
                    left = 0
                }
            }
        }
        if chunks.count == 1 {
            chunks.removeLast()
        } else {
            chunks.removeAll(keepingCapacity: chunks.count <= 16)
        }
        chunkHead = 0
        headOffset = 0
        enableWritable(false)
        if state == .closingAfterFlush {
            beginLinger()
            return
        }
        onDrained?()
    }

    private func enableWritable(_ on: Bool) {
        guard state != .closed else { return }
        let want = on ? registeredEvents | IOEvent.writable : registeredEvents & ~IOEvent.writable
        if want != registeredEvents {
            registeredEvents = want
            loop.modify(fd: fd, events: want)
        }
    }

    // MARK: Reading

    /// Stops reading (back-pressure). The kernel buffer fills and TCP slows the peer down.
    public func pauseReading() {
        guard !readPaused, state == .open else { return }
        readPaused = true
        if let offload { return offload.shard.send(.pauseReading(offload.peer)) }
        registeredEvents &= ~IOEvent.readable
        loop.modify(fd: fd, events: registeredEvents)
    }

    public func resumeReading() {
        guard readPaused, state == .open else { return }
        readPaused = false
        if let offload {
            offload.shard.send(.resumeReading(offload.peer))
            // What came back while paused goes first, on a turn of its own (the caller may be inside a read).
            if !heldReads.isEmpty { scheduleHeldReads() }
            return
        }
        registeredEvents |= IOEvent.readable
        loop.modify(fd: fd, events: registeredEvents)
    }

    public func handleEvents(_ events: UInt32) {
        if events & IOEvent.writable != 0 {
            writeQueued()
        }
        if events & (IOEvent.readable | IOEvent.readHangup | IOEvent.hangup | IOEvent.error) != 0 && state != .closed {
            readAvailable()
        }
    }

    private func readAvailable() {
        let buf = loop.readBuffer
        var rounds = 0
        while state != .closed && rounds < 8 {
            rounds += 1
            let n = Glibc.read(fd, buf.baseAddress!, buf.count)
            if n > 0 {
                bytesRead &+= UInt64(n)
                if state == .open {
                    onRead?(UnsafeRawBufferPointer(start: buf.baseAddress!, count: n))
                }
                // While lingering we just discard what the peer still sends.
                if n < buf.count { return }
            } else if n == 0 {
                peerClosed()
                return
            } else {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { return }
                abort(reason: e == ECONNRESET ? .peerClosed : .error(SystemError("read", errno: e)))
                return
            }
        }
    }

    private func peerClosed() {
        switch state {
        case .open:
            // Answers to requests that were complete are already queued: send them, then close.
            if queuedBytes > 0 {
                state = .closingAfterFlush
                registeredEvents &= ~(IOEvent.readable | IOEvent.readHangup)
                loop.modify(fd: fd, events: registeredEvents)
                writeQueued()
            } else {
                finish(.peerClosed)
            }
        case .closingAfterFlush, .lingering:
            finish(.local)
        case .closed:
            break
        }
    }

    // MARK: Closing

    /// Sends what is queued, then closes (lingering briefly so the peer reads our last bytes before any RST).
    public func close() {
        guard state == .open else { return }
        state = .closingAfterFlush
        if let offload { return offload.shard.send(.close(offload.peer)) }
        if queuedBytes == 0 {
            beginLinger()
        } else {
            writeQueued()
        }
    }

    /// Closes at once, dropping anything queued.
    public func abort(reason: TCPCloseReason = .local) {
        guard state != .closed else { return }
        finish(reason)
    }

    private func beginLinger() {
        guard state != .closed else { return }
        state = .lingering
        shutdown(fd, Int32(SHUT_WR))
        registeredEvents = IOEvent.readable | IOEvent.readHangup
        loop.modify(fd: fd, events: registeredEvents)
        lingerTimer = loop.schedule(afterNanos: 2_000_000_000) { [weak self] in
            self?.finish(.local)
        }
    }

    private func finish(_ reason: TCPCloseReason, reportedByPeer: Bool = false) {
        guard state != .closed else { return }
        state = .closed
        sharedOutput?.leave(self)
        if let offload {
            // The I/O loop closes the descriptor; it already did when it reported the end.
            if !reportedByPeer { offload.shard.send(.abort(offload.peer)) }
            heldReads = []
        } else {
            if let t = lingerTimer { loop.cancel(t) }
            loop.deregister(fd: fd)
            Glibc.close(fd)
        }
        chunks = []
        queuedBytes = 0
        let cb = onClose
        onRead = nil
        onClose = nil
        onDrained = nil
        cb?(reason)
    }

    // MARK: Offloaded

    /// An offloaded connection's bytes, back from its I/O loop (loop thread).
    func offloadRead(_ bytes: [UInt8]) {
        guard state == .open else { return }
        bytesRead &+= UInt64(bytes.count)
        if readPaused || !heldReads.isEmpty {
            heldReads.append(bytes)
            return
        }
        bytes.withUnsafeBytes { onRead?($0) }
    }

    /// An offloaded connection ended on its I/O loop (the descriptor is closed there).
    func offloadClosed(_ reason: TCPCloseReason) {
        finish(reason, reportedByPeer: true)
    }

    private func scheduleHeldReads() {
        guard !deliveringHeld else { return }
        deliveringHeld = true
        let box = CrossLoop(self)
        loop.execute {
            let conn = box.value
            conn.deliveringHeld = false
            while !conn.readPaused, conn.state == .open, !conn.heldReads.isEmpty {
                let bytes = conn.heldReads.removeFirst()
                bytes.withUnsafeBytes { conn.onRead?($0) }
            }
        }
    }

    // MARK: Connecting

    /// Connects without blocking; `completion` runs on the loop thread.
    public static func connect(
        loop: EventLoop, to address: SocketAddress, timeoutNanos: UInt64 = 2_000_000_000,
        completion: @escaping (Result<TCPConnection, SystemError>) -> Void
    ) {
        let family = address.family == .v4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            completion(.failure(SystemError("socket")))
            return
        }
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 {
            do {
                completion(.success(try adopt(fd: fd, loop: loop, remote: address)))
            } catch {
                Glibc.close(fd)
                completion(.failure(error as? SystemError ?? SystemError("connect")))
            }
            return
        }
        let e = errno
        guard e == EINPROGRESS else {
            Glibc.close(fd)
            completion(.failure(SystemError("connect", errno: e)))
            return
        }
        let connector = Connector(fd: fd, loop: loop, address: address, completion: completion)
        do {
            try loop.register(fd: fd, handler: connector, events: IOEvent.writable)
        } catch {
            Glibc.close(fd)
            completion(.failure(error as? SystemError ?? SystemError("epoll_ctl")))
            return
        }
        connector.timer = loop.schedule(afterNanos: timeoutNanos) { [weak connector] in
            connector?.fail(SystemError("connect", errno: ETIMEDOUT))
        }
    }
}

/// Waits for a non-blocking connect to finish.
final class Connector: EventHandler {
    let fd: Int32
    let loop: EventLoop
    let address: SocketAddress
    var completion: ((Result<TCPConnection, SystemError>) -> Void)?
    var timer: TimerID?

    init(fd: Int32, loop: EventLoop, address: SocketAddress, completion: @escaping (Result<TCPConnection, SystemError>) -> Void) {
        self.fd = fd
        self.loop = loop
        self.address = address
        self.completion = completion
    }

    func handleEvents(_ events: UInt32) {
        guard let completion else { return }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        if err != 0 {
            fail(SystemError("connect", errno: err))
            return
        }
        self.completion = nil
        if let timer { loop.cancel(timer) }
        loop.deregister(fd: fd)
        do {
            completion(.success(try TCPConnection.adopt(fd: fd, loop: loop, remote: address)))
        } catch {
            Glibc.close(fd)
            completion(.failure(error as? SystemError ?? SystemError("epoll_ctl")))
        }
    }

    func fail(_ error: SystemError) {
        guard let completion else { return }
        self.completion = nil
        if let timer { loop.cancel(timer) }
        loop.deregister(fd: fd)
        Glibc.close(fd)
        completion(.failure(error))
    }
}
