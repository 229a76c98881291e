import Glibc
import Synchronization

/// Several event loops for one server: the *control* loop, where every connection object and everything above the
/// sockets stays confined, and I/O loops that do the syscalls (`read`, `writev`, `close`) of the sockets handed
/// to them.
///
/// A listener given a group (``TCPListener/init(loop:address:backlog:spread:onAccept:)``) spreads the sockets it
/// accepts round-robin over the control loop itself and the I/O loops. A socket on an I/O loop is an *offloaded*
/// ``TCPConnection``: the same object and API on the control loop, but its writes travel to its I/O loop, and its
/// reads and its end come back. What one control-loop turn wrote to all the sockets of one I/O loop crosses as
/// **one** task (a broadcast to 10 000 sockets on 2 I/O loops is 2 tasks, not 10 000), and what one I/O-loop turn
/// read crosses back as one task. Each direction is a FIFO, so the bytes of one connection keep their order.
///
/// Confinement doesn't change for the code above the sockets: parsing, hub state and timers stay on the control
/// loop, which is why any number of loops leaves the protocol layers as they are.
public final class IOLoopGroup: @unchecked Sendable {
    /// The loop that owns the connection objects.
    public let control: EventLoop
    /// The I/O loops (their own threads), in the order sockets are handed out after the control loop's turn.
    public var ioLoops: [EventLoop] { shards.map(\.io) }
    let shards: [IOShard]
    /// Control loop only.
    private var nextSlot = 0
    /// Whether the control loop takes its turn in the round-robin (does its share of the syscalls itself).
    public let controlTakesShare: Bool

    /// Starts `ioLoops` loops on threads of their own.
    /// - Parameter controlTakesShare: whether the control loop keeps every (`ioLoops`+1)-th socket itself.
    public init(control: EventLoop, ioLoops: Int, controlTakesShare: Bool = true) throws {
        precondition(ioLoops >= 1, "an IOLoopGroup needs an I/O loop")
        self.control = control
        self.controlTakesShare = controlTakesShare
        var shards: [IOShard] = []
        for k in 0..<ioLoops {
            let io = try EventLoop.spawn(name: "\(control.name)-io\(k + 1)")
            shards.append(IOShard(control: control, io: io))
        }
        self.shards = shards
    }

    /// The shard the next accepted socket goes to; nil: the control loop's own. Control loop only.
    func nextShard() -> IOShard? {
        let slots = shards.count + (controlTakesShare ? 1 : 0)
        let slot = nextSlot % slots
        nextSlot = (nextSlot + 1) % slots
        if controlTakesShare { return slot == 0 ? nil : shards[slot - 1] }
        return shards[slot]
    }

    /// Tasks posted so far: from the control loop to the I/O loops, and back (tests count them).
    public var tasksPosted: (toIO: Int, toControl: Int) {
        shards.reduce((0, 0)) { ($0.0 + $1.postedToIO.load(ordering: .relaxed), $0.1 + $1.postedToControl.load(ordering: .relaxed)) }
    }

    /// Makes an offloaded connection for a descriptor accepted on the control loop. Control loop only.
    func adopt(fd: Int32, remote: SocketAddress?, shard: IOShard) -> TCPConnection {
        let peer = TCPConnection(fd: fd, loop: shard.io, remote: remote)
        let unsent = UnsentBytes()
        peer.unsentCounter = unsent
        peer.maxPendingWriteBytes = .max  // the owner enforces its cap on what it handed over
        let conn = TCPConnection(
            fd: fd, loop: control, remote: remote, offload: Offload(shard: shard, peer: peer, unsent: unsent))
        shard.send(.adopt(peer, owner: conn))
        return conn
    }

    /// Stops the I/O loops (their sockets are abandoned: call when the process is done with them). Any thread.
    public func stop() {
        for shard in shards { shard.io.stop() }
    }
}

/// Bytes handed to an I/O loop and not yet written, counted by both sides.
final class UnsentBytes: Sendable {
    let value = Atomic<Int>(0)
}

/// The control-loop side's link to the I/O loop of an offloaded connection.
final class Offload {
    let shard: IOShard
    /// The socket's object on the I/O loop; only ever passed back there, never touched here.
    let peer: TCPConnection
    let unsent: UnsentBytes

    init(shard: IOShard, peer: TCPConnection, unsent: UnsentBytes) {
        self.shard = shard
        self.peer = peer
        self.unsent = unsent
    }
}

/// One I/O loop of an ``IOLoopGroup``: the commands the control loop queued this turn (sent as one task after its
/// writes), and the reads and ends the I/O loop saw this turn (sent back as one task).
final class IOShard: @unchecked Sendable {
    let control: EventLoop
    let io: EventLoop

    enum Command {
        case adopt(TCPConnection, owner: TCPConnection)
        case write(TCPConnection, [UInt8])
        case close(TCPConnection)
        case abort(TCPConnection)
        case pauseReading(TCPConnection)
        case resumeReading(TCPConnection)
        /// The socket joins the I/O loop's mirror of a ``SharedOutput``; `cap`: its owner's cap on unsent bytes.
        case joinShared(SharedOutput, TCPConnection, cap: Int)
        case leaveShared(TCPConnection)
        /// The socket already has the pass `generation`'s bytes up to `offset` (written before, or skipped).
        case sharedMark(TCPConnection, generation: UInt64, offset: Int)
        /// One pass of a shared output, for every member of the I/O loop's mirror.
        case sharedPass(SharedOutput, [UInt8], generation: UInt64)
    }

    enum Report {
        case read(TCPConnection, [UInt8])
        case closed(TCPConnection, TCPCloseReason)
    }

    /// Control loop only.
    private var outbox: [Command] = []
    private var outboxTask: BatchTask!
    /// I/O loop only.
    private var inbox: [Report] = []
    private var inboxTask: BatchTask!
    let postedToIO = Atomic<Int>(0)
    let postedToControl = Atomic<Int>(0)

    init(control: EventLoop, io: EventLoop) {
        self.control = control
        self.io = io
        outboxTask = BatchTask(loop: control, afterFlush: true) { [unowned self] in self.postOutbox() }
        inboxTask = BatchTask(loop: io, afterFlush: true) { [unowned self] in self.postInbox() }
    }

    /// Queues a command for the I/O loop; it leaves with the others after this turn's writes. Control loop only.
    func send(_ command: Command) {
        outbox.append(command)
        outboxTask.arm()
    }

    private func postOutbox() {
        guard !outbox.isEmpty else { return }
        let batch = CrossLoop(outbox)
        outbox = []
        outbox.reserveCapacity(min(batch.value.count, 4096))
        postedToIO.wrappingAdd(1, ordering: .relaxed)
        io.execute { [unowned self] in self.apply(batch.value) }
    }

    /// Runs the control loop's commands, in order, on the I/O loop.
    private func apply(_ commands: [Command]) {
        for command in commands {
            switch command {
            case .write(let peer, let bytes):
                peer.write(bytes)
            case .adopt(let peer, let owner):
                peer.onRead = { [unowned self] bytes in self.report(.read(owner, Array(bytes))) }
                peer.onClose = { [unowned self] reason in self.report(.closed(owner, reason)) }
                do {
                    try peer.register()
                } catch {
                    // epoll refused it: closed here, and the owner hears of it.
                    peer.abort(reason: .error(error as? SystemError ?? SystemError("epoll_ctl")))
                }
            case .close(let peer):
                peer.close()
            case .abort(let peer):
                // The owner is gone already: nothing goes back.
                peer.onRead = nil
                peer.onClose = nil
                peer.abort()
            case .pauseReading(let peer):
                peer.pauseReading()
            case .resumeReading(let peer):
                peer.resumeReading()
            case .joinShared(let mirror, let peer, let cap):
                peer.sharedCap = cap
                mirror.join(peer)
            case .leaveShared(let peer):
                peer.sharedOutput?.leave(peer)
            case .sharedMark(let peer, let generation, let offset):
                peer.sharedGeneration = generation
                peer.sharedOffset = offset
            case .sharedPass(let mirror, let bytes, let generation):
                mirror.receivePass(bytes, generation: generation)
            }
        }
    }

    /// I/O loop only.
    private func report(_ report: Report) {
        inbox.append(report)
        inboxTask.arm()
    }

    private func postInbox() {
        guard !inbox.isEmpty else { return }
        let batch = CrossLoop(inbox)
        inbox = []
        postedToControl.wrappingAdd(1, ordering: .relaxed)
        control.execute {
            for report in batch.value {
                switch report {
                case .read(let owner, let bytes): owner.offloadRead(bytes)
                case .closed(let owner, let reason): owner.offloadClosed(reason)
                }
            }
        }
    }
}

/// Carries loop-confined values to the loop that owns them (each side only touches what it owns).
struct CrossLoop<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
