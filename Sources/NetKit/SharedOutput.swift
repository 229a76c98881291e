/// Bytes that every member connection of one loop gets in full: what a broadcast pass sends.
///
/// Broadcasts during a loop turn are appended here, once each, whatever the number of members; right before the
/// turn's writes (a ``BatchTask``), the whole turn's bytes go to every member with one `write` each, from one
/// shared buffer: the per-member work is one pass per turn, not one per message. A member with bytes of its own
/// still queued (a socket that was full, or a private message queued this turn) gets the shared bytes queued
/// behind them (the same array, no copy), so its order holds.
///
/// Order against a member's own writes: before any other write to a member, the shared bytes it hasn't had yet are
/// queued first (``TCPConnection/write(_:)`` does it), and the pass then sends it only what came after. So a
/// connection sees broadcasts and its own messages in the order they were written, as with one queue per connection.
///
/// Confined to its loop, like the connections.
public final class SharedOutput {
    public unowned let loop: EventLoop
    /// This turn's bytes, not yet sent.
    private(set) var bytes: [UInt8] = []
    /// Numbers the pass being built; a member's offset into `bytes` counts only for the pass it was taken in.
    private(set) var generation: UInt64 = 1
    /// Members whose syscalls this loop does.
    private var members: [TCPConnection] = []
    /// Members offloaded to I/O loops (``IOLoopGroup``): per I/O loop, a mirror output there holds them, and a
    /// pass crosses to it once, as one command, whatever its number of members. Entries are only ever appended, so
    /// an offloaded member's index here (its `sharedSlot`) stays put.
    private var remote: [RemoteMembers] = []
    private var remoteCount = 0
    private struct RemoteMembers {
        let shard: IOShard
        let mirror: SharedOutput
        var count: Int
    }
    private var passTask: BatchTask!
    /// When the last pass went out (the loop's clock; 0: never): members sent something then.
    public private(set) var lastPassAt: UInt64 = 0
    /// Passes sent so far (one per turn with broadcasts).
    public private(set) var passes: UInt64 = 0

    public init(loop: EventLoop) {
        self.loop = loop
        passTask = BatchTask(loop: loop) { [unowned self] in self.pass() }
    }

    public var memberCount: Int { members.count + remoteCount }
    public var hasPendingBytes: Bool { !bytes.isEmpty }

    /// Whether `connection` gets this output's passes.
    public func contains(_ connection: TCPConnection) -> Bool { connection.sharedOutput === self }

    /// Adds a connection of this loop: it gets what is appended from now on (not what this turn appended before).
    /// A connection is a member of one output at a time (joining leaves the other one).
    public func join(_ connection: TCPConnection) {
        precondition(connection.loop === loop, "a SharedOutput's members are on its loop")
        guard connection.sharedOutput !== self, connection.isOpen else { return }
        if let other = connection.sharedOutput { other.leave(connection) }
        connection.sharedOutput = self
        if let offload = connection.offload {
            let k = remoteSlot(offload.shard)
            connection.sharedSlot = k
            remote[k].count += 1
            remoteCount += 1
            offload.shard.send(.joinShared(remote[k].mirror, offload.peer, cap: connection.maxPendingWriteBytes))
        } else {
            connection.sharedSlot = members.count
            members.append(connection)
        }
        connection.markShared(generation: generation, offset: bytes.count)
    }

    /// The index in `remote` of `shard`'s mirror, made on first use: a search over this output's I/O loops (a
    /// handful), once per join; leaving uses the index the member kept.
    private func remoteSlot(_ shard: IOShard) -> Int {
        if let k = remote.firstIndex(where: { $0.shard === shard }) { return k }
        remote.append(RemoteMembers(shard: shard, mirror: SharedOutput(loop: shard.io), count: 0))
        return remote.count - 1
    }

    /// Removes a member: it gets nothing more from this output, not even what this turn appended (call
    /// ``TCPConnection/catchUpSharedOutput()`` first to keep that).
    public func leave(_ connection: TCPConnection) {
        guard connection.sharedOutput === self else { return }
        if let offload = connection.offload {
            remote[connection.sharedSlot].count -= 1
            connection.sharedOutput = nil
            connection.sharedSlot = -1
            remoteCount -= 1
            offload.shard.send(.leaveShared(offload.peer))
            return
        }
        let slot = connection.sharedSlot
        connection.sharedOutput = nil
        connection.sharedSlot = -1
        let last = members.removeLast()
        if slot < members.count {
            members[slot] = last
            last.sharedSlot = slot
        }
    }

    /// Queues bytes (whole frames) for every member; they leave with this turn's pass.
    public func append(_ frame: [UInt8]) {
        guard !frame.isEmpty, memberCount > 0 else { return }
        if bytes.isEmpty {
            passTask.arm()
            bytes.reserveCapacity(max(frame.count, 256))
        }
        bytes.append(contentsOf: frame)
    }

    /// Queues bytes for every member but `excluded` (members or not). Each excluded member has what it hadn't had
    /// of this turn queued now, so skipping this one frame keeps its order.
    public func append(_ frame: [UInt8], excluding excluded: [TCPConnection]) {
        guard !frame.isEmpty, memberCount > 0 else { return }
        for connection in excluded where connection.sharedOutput === self { connection.catchUpSharedOutput() }
        append(frame)
        for connection in excluded where connection.sharedOutput === self {
            connection.markShared(generation: generation, offset: bytes.count)
        }
    }

    /// Sends this turn's bytes to every member. Runs once per turn with bytes, right before the flush.
    private func pass() {
        guard !bytes.isEmpty else { return }
        let out = bytes
        let passGeneration = generation
        bytes = []
        generation &+= 1
        passes &+= 1
        lastPassAt = loop.now
        // Walked on a copy in place: no reference counting per member, and a member that ends during the pass
        // (its write failed: the close callbacks may leave and join) changes only the original.
        let snapshot = members
        snapshot.withUnsafeBufferPointer { all in
            for i in all.indices { all[i].writeShared(out, generation: passGeneration, from: self) }
        }
        for part in remote where part.count > 0 {
            part.shard.send(.sharedPass(part.mirror, out, generation: passGeneration))
        }
    }

    /// On an I/O loop: a pass of the owner output this one mirrors, for the members here.
    func receivePass(_ out: [UInt8], generation passGeneration: UInt64) {
        lastPassAt = loop.now
        passes &+= 1
        let snapshot = members
        snapshot.withUnsafeBufferPointer { all in
            for i in all.indices { all[i].writeShared(out, generation: passGeneration, from: self) }
        }
    }
}
