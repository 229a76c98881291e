import NetKit

/// One replica's end of the mesh backplane: links to every other replica, carries opaque payloads
/// between them exactly once, survives link loss (replay from bounded logs, relay through a third
/// replica) and peer restarts (epochs).
///
/// A payload goes to every replica (``publish(_:)``) or to a list of them (``publish(_:to:)``): in a fully
/// linked mesh a replica that is not a destination gets no frame for it. Either way each origin's messages
/// reach each destination exactly once and in publish order.
///
/// Lives on one NetKit ``EventLoop``: every method except ``requestSnapshot(_:)`` must be called on
/// that loop's thread, and ``onDeliver`` is called there.
///
/// ```swift
/// let node = try MeshNode(config: config, selfId: "a", loop: loop, logger: Logger(label: "mesh"))
/// node.onDeliver = { origin, payload in router.deliverRemote(payload) }
/// try node.start()
/// node.publish(bytes)
/// node.publish(bytes, to: ["b", "c"])
/// ```
public final class MeshNode: @unchecked Sendable {
    /// The config in force: the one given at init, or the latest one ``updateMembership(_:)`` applied. Loop thread.
    public internal(set) var config: MeshConfig
    public let selfId: String
    /// This boot's epoch: messages are identified by (origin, epoch, seq).
    public let epoch: UInt64
    public let loop: EventLoop
    let logger: MeshLog
    let options: MeshOptions

    /// Called on the loop for every new remote message addressed to this node (or to every node), exactly once per
    /// (origin, epoch, seq). Messages this node only holds for relaying are not handed out.
    public var onDeliver: ((_ origin: String, _ payload: [UInt8]) -> Void)?
    /// Called on the loop when another replica becomes reachable or unreachable, or leaves (see ``MeshPeerEvent``).
    public var onPeerEvent: ((MeshPeerEvent) -> Void)?

    enum RunState { case idle, running, leaving, stopped }

    var runState: RunState = .idle
    let identity: HandshakeIdentity
    var peerIds: Set<String>
    /// Peers we ask to encrypt the link with (peers.json `encryption`; a link is encrypted when either side asks).
    var encryptWith: Set<String>
    /// Every node id, so decoders reuse these strings instead of allocating one per DATA frame.
    var internedIds: InternTable
    /// Peers sorted by id (stable iteration order for routes and snapshots).
    var peerList: [Peer]
    var peers: [String: Peer]
    /// Inbound and outbound links still in handshake.
    var handshaking: [ObjectIdentifier: PeerLink] = [:]

    /// Self and every peer (the replica set comes from peers.json; ``updateMembership(_:)`` changes it).
    var origins: [String: OriginState]
    let own: OriginState
    /// Remote messages handed to ``onDeliver``.
    var delivered: UInt64 = 0
    /// Remote messages accepted only to be relayed (not addressed to this node).
    var storedForRelay: UInt64 = 0
    var lastLinksSent: [LinkReport]?
    /// Routes are looked at again soon: an origin waits for a relayer that holds what it may still hold.
    var routeRecheck: TimerID?
    var tickTimer: TimerID?
    /// Pumps every link once per loop iteration, after everything the iteration published or relayed.
    var pumpTask: BatchTask!
    var listener: MeshListener?
    var ownsListener = false
    /// Handshake failures and refused connections, per source: a peer retrying forever costs a few lines.
    var failureLog: LogRateLimiter
    /// Inbound connections closed at once (handshake cap or auth throttle).
    var refusedHandshakes: UInt64 = 0
    /// Inbound connections closed at once because their source is blocked by ``acceptThrottle``.
    var throttledHandshakes: UInt64 = 0
    var failedAuthentications: UInt64 = 0
    /// Failed authentications per source address of inbound connections: online guessing is limited per address.
    var acceptThrottle: AuthThrottle
    /// Failed authentications per peer we dial: an impostor at a peer's address gets no faster guesses either.
    var dialThrottle: AuthThrottle
    var leaveCompletion: (() -> Void)?
    /// Replicas removed by ``updateMembership(_:)`` (newest last, at most ``maxDeparted``): their dials are refused like
    /// any unknown id's, but logged as what they are, at most one line a minute each (``departedLog``).
    var departed: [String] = []
    static let maxDeparted = 64
    var departedLog: LogRateLimiter
    /// Links refused because the dialer is a replica we removed.
    var refusedDeparted: UInt64 = 0
    var leaveTimer: TimerID?

    /// - Throws: ``MeshConfigError`` when `selfId` is not in the config or its secret is too weak.
    public init(config: MeshConfig, selfId: String, loop: EventLoop, logger: Logger, options: MeshOptions = .init()) throws {
        try config.validateForNode(selfId)
        self.config = config
        self.selfId = selfId
        self.loop = loop
        self.logger = MeshLog(logger: logger, sink: options.logSink)
        self.options = options
        self.failureLog = LogRateLimiter(
            burst: max(1, options.failureLogBurst), intervalNanos: max(1, options.failureLogIntervalNanos))
        self.acceptThrottle = AuthThrottle(policy: options.authThrottle)
        self.departedLog = LogRateLimiter(
            burst: 1, intervalNanos: max(1, options.failureLogIntervalNanos) &* 6, maxKeys: Self.maxDeparted)
        self.dialThrottle = AuthThrottle(policy: options.authThrottle)
        self.epoch = options.resolveEpoch()
        self.identity = HandshakeIdentity(
            cluster: config.cluster, nodeId: selfId, epoch: epoch, secret: Array(config.secret.utf8))
        var list = [Peer]()
        for replica in config.replicas where replica.id != selfId {
            list.append(
                Peer(
                    id: replica.id, address: replica.mesh,
                    backoff: Backoff(baseNanos: options.backoffBaseNanos, capNanos: options.backoffCapNanos)))
        }
        list.sort { $0.id < $1.id }
        self.peerList = list
        self.peers = Dictionary(uniqueKeysWithValues: list.map { ($0.id, $0) })
        self.peerIds = Set(list.map(\.id))
        let ownAddress = config.replica(selfId)!.mesh
        self.encryptWith = Set(
            list.filter { config.encryption.wantsEncryption(local: ownAddress, peer: $0.address) }.map(\.id))
        self.internedIds = InternTable([selfId] + list.map(\.id))
        own = OriginState(log: OriginLog(epoch: epoch, maxCount: options.logMaxCount, maxBytes: options.logMaxBytes))
        var origins = [selfId: own]
        for peer in list {
            origins[peer.id] = OriginState(log: OriginLog(maxCount: options.logMaxCount, maxBytes: options.logMaxBytes))
        }
        self.origins = origins
        pumpTask = BatchTask(loop: loop) { [weak self] in self?.pumpAll() }
    }

    // MARK: - Public API

    /// Binds the mesh port (or adopts ``MeshOptions/listener``) and starts dialing every peer. Loop thread.
    public func start() throws {
        precondition(loop.inEventLoop, "MeshNode.start() must run on its loop")
        guard runState == .idle else { return }
        // Links are written with writev, which has no MSG_NOSIGNAL: a peer vanishing mid-write must
        // give EPIPE, not kill the process. Idempotent and process-wide.
        ignoreSIGPIPE()
        let listener: MeshListener
        if let given = options.listener {
            listener = given
        } else {
            guard let me = config.replica(selfId) else { throw MeshConfigError.unknownNode(selfId, known: Array(peerIds)) }
            listener = try MeshListener(loop: loop, host: me.mesh.numericHost, port: me.mesh.port)
            ownsListener = true
        }
        self.listener = listener
        listener.onAccept = { [weak self] connection in
            guard let self else { return connection.abort() }
            self.acceptInbound(connection)
        }
        runState = .running
        logger.info("mesh started", ["epoch": "\(epoch)", "listen": listener.localAddress?.description ?? "?"])
        tickTimer = loop.scheduleRepeating(everyNanos: options.ackIntervalNanos) { [weak self] in self?.tick() }
        tick()  // dial everyone now
    }

    /// Publishes one message from this node to every replica: next own seq, fanned out to every linked peer.
    /// Loop thread. Same as ``publish(_:to:)`` with `nil`.
    ///
    /// Messages published in one loop iteration leave together, many DATA frames per write.
    public func publish(_ payload: [UInt8]) {
        publish(payload, to: nil)
    }

    /// Publishes to the given replicas only (nil: every replica). Self in the list is ignored; an empty list
    /// (after removing self) publishes nothing and returns false. Returns true when published. Loop thread.
    ///
    /// Ids that are not replicas of the cluster are ignored too; a list naming every other replica is a
    /// broadcast. In a fully linked mesh only the destinations get a DATA frame for the message. When the link to
    /// a destination is down, the message also goes to the peers that report a link to it, which hold it for
    /// relaying without delivering it. Either way it shares the origin's one sequence: every replica gets this
    /// node's messages for it exactly once, in publish order.
    @discardableResult public func publish(_ payload: [UInt8], to destinations: [String]?) -> Bool {
        assert(loop.inEventLoop)
        var targets: [String]?
        if let destinations {
            var list = [String]()
            for id in destinations where id != selfId && peers[id] != nil && !list.contains(id) { list.append(id) }
            guard !list.isEmpty else { return false }
            // Every other replica (or more ids than a frame can name, in a cluster that big): a broadcast.
            if list.count < peerList.count && list.count <= MeshData.maxDestinations { targets = list.sorted() }
        }
        own.log.append(seq: own.log.lastSeq + 1, payload: payload, destinations: targets)
        schedulePump()
        return true
    }

    /// Graceful shutdown: LEAVING to every peer, flush, close; `completion` runs on the loop once all
    /// links closed or after ``MeshOptions/leaveTimeoutNanos`` (1 s). Loop thread.
    public func leave(completion: @escaping () -> Void) {
        guard runState == .running else {
            if runState == .idle { runState = .stopped }
            completion()
            return
        }
        runState = .leaving
        leaveCompletion = completion
        logger.info("mesh leaving")
        stopAccepting()
        for link in Array(handshaking.values) { retire(link, abort: true) }
        for peer in peerList {
            cancelOutbound(peer)
            if let link = peer.link {
                link.send(.leaving)
                // Not `retire`: we wait for this close before completing.
                link.connection.close()
            }
        }
        leaveTimer = loop.schedule(afterNanos: options.leaveTimeoutNanos) { [weak self] in self?.finishLeaving() }
        finishLeavingIfDone()
    }

    /// Abrupt stop (no LEAVING): closes every socket at once. Peers see the links drop. Loop thread.
    public func shutdown() {
        guard runState != .stopped else { return }
        runState = .stopped
        stopAccepting()
        if let tickTimer { loop.cancel(tickTimer) }
        if let leaveTimer { loop.cancel(leaveTimer) }
        tickTimer = nil
        for link in Array(handshaking.values) { retire(link, abort: true) }
        for peer in peerList {
            cancelOutbound(peer)
            if let link = peer.link {
                retire(link, abort: true)
                // Down from now on (``Peer/state`` follows the link); a stopped node has nothing to reroute.
                peer.sinceMillis = wallClockMillis()
            }
        }
        if let completion = leaveCompletion {
            leaveCompletion = nil
            completion()
        }
    }

    /// Monotonic time in nanoseconds, from ``MeshOptions/clock``: every deadline, timeout and wait of the node
    /// (failure detection, handshakes, redials, throttles, the relay cover wait) is measured with it.
    @inline(__always) func now() -> UInt64 { options.clock() }

    // MARK: - Leaving

    func stopAccepting() {
        if let listener {
            listener.onAccept = nil
            if ownsListener { listener.close() }
        }
        listener = nil
    }

    func finishLeavingIfDone() {
        guard runState == .leaving else { return }
        if peerList.allSatisfy({ $0.link == nil }) && handshaking.isEmpty { finishLeaving() }
    }

    func finishLeaving() {
        guard runState == .leaving else { return }
        shutdown()
    }
}
