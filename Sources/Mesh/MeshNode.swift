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
    public let config: MeshConfig
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

    /// Everything about one other replica that outlives a single connection.
    final class Peer {
        let id: String
        let address: HostPort
        var state: PeerState = .connecting
        var sinceMillis: Int64
        /// The established link, if any.
        var link: PeerLink?
        /// Our outbound link while in handshake.
        var outbound: PeerLink?
        /// A TCP connect is in flight; `dialToken` invalidates it when we change our mind.
        var connecting = false
        var dialToken: UInt64 = 0
        var nextDialAt: UInt64 = 0
        var backoff: Backoff
        var lastDialFailure: String?
        var lastAcceptFailure: String?
        /// The peer's epoch as of its last handshake (0 = never linked).
        var epoch: UInt64 = 0
        var blocked = false
        var leftGracefully = false
        var reportedLinks: [LinkReport] = []
        /// Origins we asked it to feed us on the current link (sent as RESUME).
        var requested: [String] = []
        /// Our own messages up to this seq need no replay to it (acked, or it asked only for newer ones).
        var ackedOwn: UInt64 = 0
        var rttMicros: UInt64?
        var dataSent: UInt64 = 0
        /// Own messages not sent to this peer because none was for it (targeted publish).
        var filteredSkipped: UInt64 = 0
        var dataReceived: UInt64 = 0
        var relayed: UInt64 = 0
        var duplicatesDropped: UInt64 = 0
        var outOfOrderDropped: UInt64 = 0
        var staleDropped: UInt64 = 0
        /// DATA for an origin this peer is neither nor was asked to relay on its current link.
        var unexpectedOrigin: UInt64 = 0
        var gaps: UInt64 = 0
        var sendGaps: UInt64 = 0
        var dataWrites: UInt64 = 0
        /// Links that came up with this peer (either role), over the node's lifetime.
        var linksEstablished: UInt64 = 0
        /// Test hook: every record sent on links to this peer gets one byte flipped.
        var corruptRecords = false
        /// Test hook: DATA frames for this peer are taken from the logs but never written (lost in flight).
        var dropData = false
        /// What ``onPeerEvent`` last said about this peer, and of which of its lives (0: not known then).
        var announced: Announced = .unknown
        var announcedEpoch: UInt64 = 0

        init(id: String, address: HostPort, backoff: Backoff) {
            self.id = id
            self.address = address
            self.backoff = backoff
            self.sinceMillis = wallClockMillis()
        }

        var isUp: Bool { link?.isEstablished == true }
    }

    enum RunState { case idle, running, leaving, stopped }
    enum Announced { case unknown, reachable, unreachable, left }

    var runState: RunState = .idle
    let identity: HandshakeIdentity
    let peerIds: Set<String>
    /// Peers we ask to encrypt the link with (peers.json `encryption`; a link is encrypted when either side asks).
    let encryptWith: Set<String>
    /// Every node id, so decoders reuse these strings instead of allocating one per DATA frame.
    let internedIds: InternTable
    /// Peers sorted by id (stable iteration order for routes and snapshots).
    let peerList: [Peer]
    let peers: [String: Peer]
    /// Inbound and outbound links still in handshake.
    var handshaking: [ObjectIdentifier: PeerLink] = [:]
    /// Everything kept per origin, so that a DATA frame costs one dictionary lookup instead of five.
    final class OriginState {
        /// Our own messages (seq = 1, 2, 3… per epoch), or the remote ones we relay.
        var log: OriginLog
        /// What we delivered of it (unused for our own origin).
        var receive = ReceiveState()
        /// Messages known lost (GAP_BEFORE).
        var gaps: UInt64 = 0
        /// The relayer whose NOT_HELD skips we take as gaps: chosen as a last resort by `updateRoutes`.
        var acceptsUnheldFrom: String?
        /// Since when no route could feed us this origin without skipping what it may still hold (nil: one can).
        var uncoveredSince: UInt64?

        init(log: OriginLog) { self.log = log }
    }

    /// Self and every peer, fixed at init (the replica set comes from peers.json).
    let origins: [String: OriginState]
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
        pumpTask = BatchTask(loop: loop) { [weak self] in
            guard let self else { return }
            var shared: SharedBatch?
            for peer in peerList {
                if let link = peer.link { pump(link, sharing: &shared) }
            }
        }
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
        logger.info(
            "mesh node started", ["node": selfId, "epoch": "\(epoch)", "listen": listener.localAddress?.description ?? "?"])
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

    /// Whether `peer` can be reached now: our link to it is up, or an up peer's latest LINKS report says its link to
    /// `peer` is up. After `peer` said LEAVING, only a direct link or a report of a newer life of it counts (the
    /// others' reports of the life that left are stale). Loop thread.
    public func isReachable(_ peer: String) -> Bool {
        guard let record = peers[peer] else { return false }
        if record.isUp { return true }
        for other in peerList where other !== record && other.isUp {
            for report in other.reportedLinks where report.peerId == peer && report.up {
                if record.leftGracefully && report.peerEpoch <= record.epoch { continue }
                return true
            }
        }
        return false
    }

    /// Current state for /api/mesh. Loop thread (see ``requestSnapshot(_:)`` from elsewhere).
    public func snapshot() -> MeshSnapshot {
        let own = self.own.log
        var peerSnapshots = [PeerSnapshot]()
        for peer in peerList {
            let linked = peer.epoch != 0
            peerSnapshots.append(
                PeerSnapshot(
                    id: peer.id, address: peer.address.description, state: peer.state, sinceMillis: peer.sinceMillis,
                    epoch: peer.epoch, dialedByUs: peer.link.map { $0.role == .dialer },
                    encrypted: peer.link?.isEncrypted ?? false, rttMicros: peer.rttMicros,
                    dataSent: peer.dataSent, filteredSkipped: peer.filteredSkipped, dataReceived: peer.dataReceived,
                    relayed: peer.relayed,
                    duplicatesDropped: peer.duplicatesDropped, outOfOrderDropped: peer.outOfOrderDropped,
                    staleDropped: peer.staleDropped, unexpectedOrigin: peer.unexpectedOrigin,
                    replayBufferedMessages: linked ? own.count(after: peer.ackedOwn) : 0,
                    replayBufferedBytes: linked ? own.bytes(after: peer.ackedOwn) : 0,
                    gaps: peer.gaps, sendGaps: peer.sendGaps, dataWrites: peer.dataWrites,
                    feeding: (peer.link?.feeds.map(\.origin) ?? []).sorted(), requested: peer.requested.sorted(),
                    reportedLinks: peer.reportedLinks, reachable: isReachable(peer.id)))
        }
        var origins = [OriginSnapshot]()
        for peer in peerList {
            let origin = self.origins[peer.id]!
            origins.append(
                OriginSnapshot(
                    id: peer.id, epoch: origin.receive.epoch, highestDelivered: origin.receive.highest, gaps: origin.gaps,
                    logCount: origin.log.count, logBytes: origin.log.byteCount))
        }
        return MeshSnapshot(
            nodeId: selfId, epoch: epoch, cluster: config.cluster, published: own.lastSeq, delivered: delivered,
            storedForRelay: storedForRelay,
            ownLogCount: own.count, ownLogBytes: own.byteCount, refusedHandshakes: refusedHandshakes,
            throttledHandshakes: throttledHandshakes, failedAuthentications: failedAuthentications, peers: peerSnapshots,
            origins: origins)
    }

    /// Takes a snapshot on the loop and hands it to `completion` there. Safe from any thread.
    public func requestSnapshot(_ completion: @escaping @Sendable (MeshSnapshot) -> Void) {
        loop.execute { [self] in completion(snapshot()) }
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
        logger.info("mesh node leaving", ["node": selfId])
        stopAccepting()
        for link in Array(handshaking.values) { retire(link, abort: true) }
        for peer in peerList {
            peer.connecting = false
            peer.dialToken &+= 1
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
            peer.connecting = false
            peer.dialToken &+= 1
            if let link = peer.link { retire(link, abort: true) }
        }
        if let completion = leaveCompletion {
            leaveCompletion = nil
            completion()
        }
    }

    /// Monotonic time in nanoseconds, from ``MeshOptions/clock``: every deadline, timeout and wait of the node
    /// (failure detection, handshakes, redials, throttles, the relay cover wait) is measured with it.
    @inline(__always) func now() -> UInt64 { options.clock() }

    /// Links in handshake (inbound and outbound). Loop thread.
    var handshakingCount: Int { handshaking.count }

    /// Tests: records sealed and opened on the live link to `peer`, and keys replaced each way (nil in clear).
    func recordCounts(_ peer: String) -> (sealed: UInt64, opened: UInt64, sendRekeys: UInt64, receiveRekeys: UInt64)? {
        guard let link = peers[peer]?.link, let sealer = link.sealer, let opener = link.opener else { return nil }
        return (sealer.recordsSealed, opener.recordsOpened, sealer.rekeys, opener.rekeys)
    }

    /// Test hook: drops the socket to `peer` as if the network failed (both sides see the link go down
    /// and redial).
    public func testCutLink(to peer: String) {
        guard let link = peers[peer]?.link else { return }
        logger.info("test: cutting link", ["peer": peer])
        link.connection.abort()
    }

    /// Test hook: while `on`, DATA frames for `peer` leave the logs as if sent but are never written: what a link
    /// that dies with frames in flight loses. Heartbeats and everything else still flow.
    func testDropData(to peer: String, _ on: Bool) {
        peers[peer]?.dropData = on
    }

    /// Test hook: flips one byte of the next record sent to `peer` (an encrypted link), as a tampering network
    /// would; the peer must drop the link.
    public func testCorruptNextRecord(to peer: String) {
        peers[peer]?.link?.corruptNextRecord = true
    }

    /// Test hook: while `on`, flips one byte of every record sent to `peer` on this and later links, as a
    /// tampering network would: every link dies as soon as it carries a record.
    public func testCorruptRecords(to peer: String, _ on: Bool) {
        guard let record = peers[peer] else { return }
        record.corruptRecords = on
        record.link?.corruptEveryRecord = on
    }

    /// Tests: failed attempts counted by the redial backoff to `peer` (0 = the next delay is the shortest).
    func backoffAttempts(_ peer: String) -> Int { peers[peer]?.backoff.attempt ?? 0 }

    /// Tests: how much longer inbound connections from `host` are refused by the auth throttle (0: not blocked).
    func acceptBlockRemaining(host: String) -> UInt64 {
        let now = self.now()
        guard case .refuse(let until) = acceptThrottle.check(AuthThrottle.sourceKey(host: host), now: now) else { return 0 }
        return until - now
    }

    /// Tests: links that came up with `peer` so far (either side dialed).
    func linksEstablished(with peer: String) -> UInt64 { peers[peer]?.linksEstablished ?? 0 }

    /// Test hook: while blocked, never dial `peer` and refuse its dials (its link stays down).
    public func testBlockPeer(_ peer: String, _ blocked: Bool) {
        guard let record = peers[peer] else { return }
        record.blocked = blocked
        if blocked {
            record.connecting = false
            record.dialToken &+= 1
            if let outbound = record.outbound { retire(outbound, abort: true) }
            record.link?.connection.abort()
        } else {
            record.nextDialAt = 0
            record.backoff.reset()
        }
    }

    // MARK: - Dialing and accepting

    func tick() {
        guard runState == .running || runState == .leaving else { return }
        let now = self.now()
        for link in Array(handshaking.values) where now > link.handshakeDeadline {
            fail(link, reason: "handshake timeout")
        }
        for peer in peerList {
            if let link = peer.link, !link.stable, link.heartbeatAnswered,
                now >= link.establishedAt && now - link.establishedAt >= options.linkStableNanos
            {
                // Only a link that proved itself starts the backoff over: one that dies right after its handshake
                // (a network corrupting records, a peer that drops us at once) must not be redialed at full speed.
                link.stable = true
                peer.backoff.reset()
            }
            if let link = peer.link, var detector = link.detector {
                let verdict = detector.poll(now: now)
                link.detector = detector
                if verdict.down {
                    let silence = Double(now - detector.lastHeardNanos) / 1e9
                    linkDown(peer, link, reason: "no frame for \(String(format: "%.2f", silence)) s")
                    continue
                }
                if verdict.sendHeartbeat {
                    link.send(.heartbeat(nanos: now))
                    if detector.heartbeatsSent % options.linksEveryHeartbeats == 0 { link.send(.links(currentLinks())) }
                }
                if link.ackDirty {
                    link.ackDirty = false
                    link.send(.ack(peer.requested.map(cursor(for:))))
                }
            } else if runState == .running, !peer.blocked, peer.outbound == nil, !peer.connecting, now >= peer.nextDialAt {
                dial(peer)
            }
        }
    }

    func dial(_ peer: Peer) {
        let address: SocketAddress
        do {
            address = try SocketAddress(host: peer.address.numericHost, port: peer.address.port)
        } catch {
            logger.error("cannot dial peer: \(error)", ["peer": peer.id])
            peer.nextDialAt = .max
            return
        }
        peer.connecting = true
        peer.dialToken &+= 1
        let token = peer.dialToken
        TCPConnection.connect(loop: loop, to: address, timeoutNanos: options.connectTimeoutNanos) { [weak self] result in
            guard let self, peer.connecting, peer.dialToken == token, self.runState == .running else {
                if case .success(let connection) = result { connection.abort() }
                return
            }
            peer.connecting = false
            switch result {
            case .failure(let error):
                self.dialFailed(peer, reason: "connect: \(error)")
            case .success(let connection):
                let handshake = Handshake(
                    role: .dialer, local: self.identity, nonce: Handshake.randomNonce(), expectedPeer: peer.id,
                    knownPeers: self.peerIds, encryptWith: self.encryptWith)
                let link = PeerLink(
                    connection: connection, role: .dialer, handshake: handshake,
                    maxFrameBytes: self.options.maxHandshakeFrameBytes,
                    deadline: self.now() + self.options.handshakeTimeoutNanos, intern: self.internedIds)
                link.peerId = peer.id
                peer.outbound = link
                self.handshaking[ObjectIdentifier(link)] = link
                self.wire(link)
                self.perform(link, link.handshake.start())
            }
        }
    }

    func dialFailed(_ peer: Peer, reason: String, level: LogLevel = .info) {
        let now = self.now()
        peer.nextDialAt = now + peer.backoff.nextDelay()
        if case .refuse(let until) = dialThrottle.check(peer.id, now: now) { peer.nextDialAt = max(peer.nextDialAt, until) }
        if peer.lastDialFailure != reason {
            // Log each new reason once; a peer that stays down would otherwise log every second. The reason may
            // quote the peer (a REJECT): rate limited too, so one varying it each time can't flood the log.
            peer.lastDialFailure = reason
            limitedLog(level, key: "peer:" + peer.id, "cannot link to peer: \(reason)", ["peer": peer.id])
        }
    }

    func acceptInbound(_ connection: TCPConnection) {
        guard runState == .running else { return connection.abort() }
        let source = AuthThrottle.sourceKey(host: connection.remoteAddress?.host ?? "?")
        let now = self.now()
        if case .refuse(let until) = acceptThrottle.check(source, now: now) {
            // Too many wrong guesses from there: closed before we read a byte or do any curve work. The REJECT (a
            // constant, a few bytes) tells a real peer that restarted with the right secret why it must wait.
            connection.write(Self.throttledReject)
            connection.close()
            refusedHandshakes &+= 1
            throttledHandshakes &+= 1
            limitedLog(
                .warning, key: "throttled:" + source,
                "refused a mesh connection from \(source): too many failed authentications, blocked for another "
                    + Self.seconds(until - now),
                ["remote": connection.remoteAddress?.description ?? "?"])
            return
        }
        var inbound = 0
        for link in handshaking.values where link.role == .acceptor { inbound += 1 }
        if inbound >= options.maxInboundHandshakes {
            // Unauthenticated connections cost memory and a timer each: a stranger opening thousands gets
            // them closed at once. A real peer redials with backoff and gets in once the crowd times out.
            connection.abort()
            refusedHandshakes &+= 1
            limitedLog(
                .warning, key: "handshake-cap",
                "refused a mesh connection: \(inbound) already in handshake (\(refusedHandshakes) refused so far)",
                ["remote": connection.remoteAddress?.description ?? "?"])
            return
        }
        let handshake = Handshake(
            role: .acceptor, local: identity, nonce: Handshake.randomNonce(), knownPeers: peerIds, encryptWith: encryptWith)
        let link = PeerLink(
            connection: connection, role: .acceptor, handshake: handshake, maxFrameBytes: options.maxHandshakeFrameBytes,
            deadline: self.now() + options.handshakeTimeoutNanos, intern: internedIds)
        link.source = source
        handshaking[ObjectIdentifier(link)] = link
        wire(link)
    }

    /// What a source blocked by the auth throttle gets before the close.
    static let throttleRejectReason = "too many failed authentications from this address, retry later"
    static let throttledReject = MeshFrame.reject(reason: throttleRejectReason).encoded()

    /// "1.5 s"
    static func seconds(_ nanos: UInt64) -> String { String(format: "%.1f s", Double(nanos) / 1e9) }

    /// Counts what a handshake that ended without a link says about the other side's knowledge of the secret: a
    /// failed proof (or, for our dial, our proof handed to someone who never proved itself) is one guess, and
    /// blocks the source after a few; a verified proof clears it.
    func noteAuthentication(_ link: PeerLink) {
        let handshake = link.handshake
        let now = self.now()
        switch link.role {
        case .acceptor:
            guard handshake.authenticationFailed, let source = link.source else { return }
            failedAuthentications &+= 1
            let block = acceptThrottle.recordFailure(source, now: now)
            if block > 0 {
                limitedLog(
                    .warning, key: "throttled:" + source,
                    "\(acceptThrottle.failures(source)) failed authentications from \(source): refusing its mesh "
                        + "connections for " + Self.seconds(block), ["remote": source])
            }
        case .dialer:
            guard let id = link.peerId else { return }
            if handshake.peerConfirmed { return dialThrottle.recordSuccess(id) }
            guard handshake.authenticationFailed || handshake.confirmedToUnprovenPeer else { return }
            failedAuthentications &+= 1
            let block = dialThrottle.recordFailure(id, now: now)
            if block > 0 {
                limitedLog(
                    .warning, key: "throttled:peer:" + id,
                    "\(dialThrottle.failures(id)) handshakes with \(id) failed after our key confirmation: not dialing "
                        + "it for " + Self.seconds(block), ["peer": id])
            }
        }
    }

    func wire(_ link: PeerLink) {
        let connection = link.connection
        // Control frames ride on top of at most `maxQueuedWriteBytes` + one batch of DATA.
        connection.maxPendingWriteBytes = max(16 << 20, options.maxQueuedWriteBytes * 4)
        connection.onRead = { [weak self, weak link] bytes in
            guard let self, let link else { return }
            self.read(link, bytes)
        }
        connection.onClose = { [weak self, weak link] reason in
            guard let self, let link else { return }
            self.closed(link, reason: reason)
        }
        connection.onDrained = { [weak self, weak link] in
            guard let self, let link, link.isEstablished else { return }
            self.pump(link)
        }
    }

    // MARK: - Link lifecycle

    func closed(_ link: PeerLink, reason: TCPCloseReason) {
        let wasRetired = link.retired
        link.closed = true
        handshaking[ObjectIdentifier(link)] = nil
        if let id = link.peerId, let peer = peers[id] {
            if peer.outbound === link {
                peer.outbound = nil
                if !wasRetired {
                    noteAuthentication(link)
                    dialFailed(peer, reason: "closed during handshake: \(reason)")
                }
            }
            if peer.link === link {
                peer.link = nil
                if !wasRetired { markDown(peer, link, reason: "\(reason)") }
            }
        }
        if runState == .leaving { finishLeavingIfDone() }
    }

    /// The established link to `peer` failed: close it and go down.
    func linkDown(_ peer: Peer, _ link: PeerLink, reason: String) {
        retire(link, abort: true)
        markDown(peer, link, reason: reason)
    }

    /// `link` (just closed) went down; the peer is down until a new link comes up.
    func markDown(_ peer: Peer, _ link: PeerLink, reason: String) {
        peer.state = peer.leftGracefully ? .left : .down
        peer.sinceMillis = wallClockMillis()
        peer.requested = []
        // Its view of the mesh is stale from now on; it sends a fresh LINKS first thing on relinking.
        peer.reportedLinks = []
        if runState == .running {
            if peer.leftGracefully {
                logger.info("peer left", ["peer": peer.id])
            } else {
                // The one line per drop. A link that keeps dying the same way (a tampering network) logs a few
                // lines, then one per interval saying how many were held back. Digits (record numbers, seconds of
                // silence) don't make a reason new.
                let kind = String(reason.unicodeScalars.filter { !("0"..."9").contains($0) }.prefix(200))
                limitedLog(
                    .warning, key: "down:\(peer.id):\(kind)", "link to \(peer.id) dropped: \(reason)", ["peer": peer.id])
            }
        }
        // A link that died before it proved stable waits at least half the ceiling: with full jitter both sides'
        // dials would race to the earlier of two draws, relinking about every third of the cap.
        peer.nextDialAt = now() + peer.backoff.nextDelay(jitter: link.stable ? .full : .equal)
        updateRoutes()
        // Our messages for it may now have to go through the peers still linked to it.
        schedulePump()
        if runState == .leaving { finishLeavingIfDone() }
    }

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
