import NetKit

/// One replica's end of the mesh backplane: links to every other replica, carries opaque payloads
/// between them exactly once, survives link loss (replay from bounded logs, relay through a third
/// replica) and peer restarts (epochs).
///
/// Lives on one NetKit ``EventLoop``: every method except ``requestSnapshot(_:)`` must be called on
/// that loop's thread, and ``onDeliver`` is called there.
///
/// ```swift
/// let node = try MeshNode(config: config, selfId: "a", loop: loop, logger: Logger(label: "mesh"))
/// node.onDeliver = { origin, payload in router.deliverRemote(payload) }
/// try node.start()
/// node.publish(bytes)
/// ```
public final class MeshNode: @unchecked Sendable {
    public let config: MeshConfig
    public let selfId: String
    /// This boot's epoch: messages are identified by (origin, epoch, seq).
    public let epoch: UInt64
    public let loop: EventLoop
    let logger: MeshLog
    let options: MeshOptions

    /// Called on the loop for every new remote message, exactly once per (origin, epoch, seq).
    public var onDeliver: ((_ origin: String, _ payload: [UInt8]) -> Void)?

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

        init(id: String, address: HostPort, backoff: Backoff) {
            self.id = id
            self.address = address
            self.backoff = backoff
            self.sinceMillis = wallClockMillis()
        }

        var isUp: Bool { link?.isEstablished == true }
    }

    private enum RunState { case idle, running, leaving, stopped }

    private var runState: RunState = .idle
    private let identity: HandshakeIdentity
    private let peerIds: Set<String>
    /// Peers we ask to encrypt the link with (peers.json `encryption`; a link is encrypted when either side asks).
    private let encryptWith: Set<String>
    /// Every node id, so decoders reuse these strings instead of allocating one per DATA frame.
    private let internedIds: InternTable
    /// Peers sorted by id (stable iteration order for routes and snapshots).
    private let peerList: [Peer]
    private let peers: [String: Peer]
    /// Inbound and outbound links still in handshake.
    private var handshaking: [ObjectIdentifier: PeerLink] = [:]
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
    private let origins: [String: OriginState]
    private let own: OriginState
    private var delivered: UInt64 = 0
    private var lastLinksSent: [LinkReport]?
    /// Routes are looked at again soon: an origin waits for a relayer that holds what it may still hold.
    private var routeRecheck: TimerID?
    private var tickTimer: TimerID?
    /// Pumps every link once per loop iteration, after everything the iteration published or relayed.
    private var pumpTask: BatchTask!
    private var listener: MeshListener?
    private var ownsListener = false
    /// Handshake failures and refused connections, per source: a peer retrying forever costs a few lines.
    private var failureLog: LogRateLimiter
    /// Inbound connections closed at once (handshake cap or auth throttle).
    private var refusedHandshakes: UInt64 = 0
    /// Inbound connections closed at once because their source is blocked by ``acceptThrottle``.
    private var throttledHandshakes: UInt64 = 0
    private var failedAuthentications: UInt64 = 0
    /// Failed authentications per source address of inbound connections: online guessing is limited per address.
    private var acceptThrottle: AuthThrottle
    /// Failed authentications per peer we dial: an impostor at a peer's address gets no faster guesses either.
    private var dialThrottle: AuthThrottle
    private var leaveCompletion: (() -> Void)?
    private var leaveTimer: TimerID?

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

    /// Publishes one message from this node: next own seq, fanned out to every linked peer. Loop thread.
    ///
    /// Messages published in one loop iteration leave together, many DATA frames per write.
    public func publish(_ payload: [UInt8]) {
        assert(loop.inEventLoop)
        own.log.append(seq: own.log.lastSeq + 1, payload: payload)
        schedulePump()
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
                    dataSent: peer.dataSent, dataReceived: peer.dataReceived, relayed: peer.relayed,
                    duplicatesDropped: peer.duplicatesDropped, outOfOrderDropped: peer.outOfOrderDropped,
                    staleDropped: peer.staleDropped, unexpectedOrigin: peer.unexpectedOrigin,
                    replayBufferedMessages: linked ? own.count(after: peer.ackedOwn) : 0,
                    replayBufferedBytes: linked ? own.bytes(after: peer.ackedOwn) : 0,
                    gaps: peer.gaps, sendGaps: peer.sendGaps, dataWrites: peer.dataWrites,
                    feeding: (peer.link?.feeds.map(\.origin) ?? []).sorted(), requested: peer.requested.sorted(),
                    reportedLinks: peer.reportedLinks))
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
        let now = monotonicNanos()
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

    private func tick() {
        guard runState == .running || runState == .leaving else { return }
        let now = monotonicNanos()
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

    private func dial(_ peer: Peer) {
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
                    deadline: monotonicNanos() + self.options.handshakeTimeoutNanos, intern: self.internedIds)
                link.peerId = peer.id
                peer.outbound = link
                self.handshaking[ObjectIdentifier(link)] = link
                self.wire(link)
                self.perform(link, link.handshake.start())
            }
        }
    }

    private func dialFailed(_ peer: Peer, reason: String, level: LogLevel = .info) {
        let now = monotonicNanos()
        peer.nextDialAt = now + peer.backoff.nextDelay()
        if case .refuse(let until) = dialThrottle.check(peer.id, now: now) { peer.nextDialAt = max(peer.nextDialAt, until) }
        if peer.lastDialFailure != reason {
            // Log each new reason once; a peer that stays down would otherwise log every second. The reason may
            // quote the peer (a REJECT): rate limited too, so one varying it each time can't flood the log.
            peer.lastDialFailure = reason
            limitedLog(level, key: "peer:" + peer.id, "cannot link to peer: \(reason)", ["peer": peer.id])
        }
    }

    private func acceptInbound(_ connection: TCPConnection) {
        guard runState == .running else { return connection.abort() }
        let source = AuthThrottle.sourceKey(host: connection.remoteAddress?.host ?? "?")
        let now = monotonicNanos()
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
            deadline: monotonicNanos() + options.handshakeTimeoutNanos, intern: internedIds)
        link.source = source
        handshaking[ObjectIdentifier(link)] = link
        wire(link)
    }

    /// What a source blocked by the auth throttle gets before the close.
    static let throttleRejectReason = "too many failed authentications from this address, retry later"
    private static let throttledReject = MeshFrame.reject(reason: throttleRejectReason).encoded()

    /// "1.5 s"
    private static func seconds(_ nanos: UInt64) -> String { String(format: "%.1f s", Double(nanos) / 1e9) }

    /// Counts what a handshake that ended without a link says about the other side's knowledge of the secret: a
    /// failed proof (or, for our dial, our proof handed to someone who never proved itself) is one guess, and
    /// blocks the source after a few; a verified proof clears it.
    private func noteAuthentication(_ link: PeerLink) {
        let handshake = link.handshake
        let now = monotonicNanos()
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

    private func wire(_ link: PeerLink) {
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

    // MARK: - Handshake

    private func perform(_ link: PeerLink, _ actions: [Handshake.Action]) {
        for action in actions {
            guard !link.closed else { return }
            switch action {
            case .send(let frame):
                link.send(frame)
            case .authenticated(let peerId, let peerEpoch):
                decideInbound(link, peerId: peerId, peerEpoch: peerEpoch)
            case .established(let peerId, let peerEpoch):
                establish(link, peerId: peerId, peerEpoch: peerEpoch)
            case .fail(let reason):
                fail(link, reason: reason)
            }
        }
    }

    /// The acceptor's tie-break, once the dialer proved itself.
    private func decideInbound(_ link: PeerLink, peerId: String, peerEpoch: UInt64) {
        link.peerId = peerId
        link.peerEpoch = peerEpoch
        // It proved it knows the secret: its address and (as a peer we dial) its id are in the clear again.
        if let source = link.source { acceptThrottle.recordSuccess(source) }
        dialThrottle.recordSuccess(peerId)
        guard let peer = peers[peerId] else { return perform(link, link.handshake.reject(reason: "unknown node id")) }
        guard runState == .running else { return perform(link, link.handshake.reject(reason: "shutting down")) }
        guard !peer.blocked else { return perform(link, link.handshake.reject(reason: "blocked (test)")) }

        var existing: LinkPolicy.Candidate?
        if let current = peer.link {
            existing = LinkPolicy.Candidate(dialer: current.dialerId(selfId: selfId) ?? peerId, peerEpoch: current.peerEpoch)
        } else if peer.outbound != nil || peer.connecting {
            existing = LinkPolicy.Candidate(dialer: selfId, peerEpoch: peer.outbound?.handshake.peerEpoch)
        }
        let decision = LinkPolicy.decide(
            selfId: selfId, peerId: peerId, existing: existing, new: LinkPolicy.Candidate(dialer: peerId, peerEpoch: peerEpoch))
        switch decision {
        case .rejectNew:
            perform(link, link.handshake.reject(reason: "duplicate link"))
        case .keepNew:
            // Our own dial loses (if any); an established old link is replaced in `establish`.
            cancelOutbound(peer)
            perform(link, link.handshake.accept())
        }
    }

    private func cancelOutbound(_ peer: Peer) {
        peer.connecting = false
        peer.dialToken &+= 1
        if let outbound = peer.outbound { retire(outbound, abort: true) }
    }

    private func establish(_ link: PeerLink, peerId: String, peerEpoch: UInt64) {
        handshaking[ObjectIdentifier(link)] = nil
        guard let peer = peers[peerId] else { return retire(link, abort: true) }
        if link.role == .dialer {
            dialThrottle.recordSuccess(peerId)
            acceptThrottle.recordSuccess(AuthThrottle.sourceKey(host: peer.address.numericHost))
        }
        if peer.outbound === link { peer.outbound = nil }
        if let old = peer.link, old !== link {
            if link.role == .dialer {
                // Our dial completed while an inbound link exists: same rule as the acceptor applies.
                let decision = LinkPolicy.decide(
                    selfId: selfId, peerId: peerId,
                    existing: LinkPolicy.Candidate(dialer: old.dialerId(selfId: selfId) ?? peerId, peerEpoch: old.peerEpoch),
                    new: LinkPolicy.Candidate(dialer: selfId, peerEpoch: peerEpoch))
                if decision == .rejectNew {
                    logger.debug("dropping our dial: existing link wins", ["peer": peerId])
                    return retire(link, abort: false)
                }
            }
            retire(old, abort: true)
        }
        if peer.epoch != 0 && peerEpoch > peer.epoch {
            logger.info("peer restarted", ["peer": peerId, "epoch": "\(peerEpoch)", "previous": "\(peer.epoch)"])
            peer.ackedOwn = 0
            peer.reportedLinks = []
        }
        peer.epoch = max(peer.epoch, peerEpoch)
        origins[peerId]?.receive.observeEpoch(peerEpoch)

        link.peerEpoch = peerEpoch
        // Authenticated: full-size frames from now on.
        link.decoder.maxFrameBytes = options.maxFrameBytes
        if link.handshake.isEncrypted, let keys = link.handshake.keys {
            // Everything after the handshake is sealed, both ways (`read` moves what already arrived).
            link.sealer = RecordSealer(key: keys.sending(as: link.role), rekey: options.rekey)
            link.opener = RecordDecoder(key: keys.receiving(as: link.role), rekey: options.rekey)
        }
        let now = monotonicNanos()
        link.establishedAt = now
        link.detector = FailureDetector(
            now: now, heartbeatIntervalNanos: options.heartbeatIntervalNanos, timeoutNanos: options.failureTimeoutNanos)
        link.corruptEveryRecord = peer.corruptRecords
        peer.linksEstablished &+= 1
        peer.link = link
        peer.state = .up
        peer.sinceMillis = wallClockMillis()
        // Not `backoff.reset()`: `tick` does that once the link has proved stable.
        peer.lastDialFailure = nil
        peer.lastAcceptFailure = nil
        peer.leftGracefully = false
        peer.requested = []  // forces a RESUME on this link
        limitedLog(
            .info, key: "up:" + peerId, "link up",
            [
                "peer": peerId, "epoch": "\(peerEpoch)", "dialed": link.role == .dialer ? "us" : "them",
                "encrypted": link.isEncrypted ? "yes" : "no",
            ])
        link.send(.links(currentLinks()))
        updateRoutes()
    }

    private func fail(_ link: PeerLink, reason: String) {
        guard !link.closed else { return }
        noteAuthentication(link)
        let peer = link.peerId.flatMap { peers[$0] }
        // For log de-duplication only: an acceptor failing key confirmation has just the id the peer claimed.
        let claimed = peer ?? link.handshake.peerId.flatMap { peers[$0] }
        retire(link, abort: false)
        // Our own tie-break verdicts, or the peer's (quoted): routine, not worth a warning.
        let expected = reason.contains("duplicate link") || reason.contains("blocked (test)")
        if let peer, link.role == .dialer {
            dialFailed(peer, reason: reason, level: expected ? .debug : .warning)
        } else if expected {
            logger.debug("refused link: \(reason)", ["peer": link.peerId ?? "?"])
        } else if let claimed {
            // A misconfigured peer redials every second: log each distinct reason once.
            if claimed.lastAcceptFailure != reason {
                claimed.lastAcceptFailure = reason
                limitedLog(.warning, key: "peer:" + claimed.id, "handshake failed: \(reason)", ["peer": claimed.id])
            }
        } else {
            // A stranger: its address is the only identity it has (the port changes with every attempt).
            let remote = link.connection.remoteAddress
            limitedLog(
                .warning, key: "remote:" + (remote?.host ?? "?"), "handshake failed: \(reason)",
                ["remote": remote?.description ?? "?"])
        }
    }

    /// Closes a link we no longer want without treating it as a failure (tie-break loser, handshake
    /// failure, shutdown). `abort: false` flushes what is queued first (a REJECT).
    private func retire(_ link: PeerLink, abort: Bool) {
        guard !link.closed else { return }
        link.retired = true
        link.closed = true
        handshaking[ObjectIdentifier(link)] = nil
        if let id = link.peerId, let peer = peers[id] {
            if peer.outbound === link { peer.outbound = nil }
            if peer.link === link { peer.link = nil }
        }
        if abort { link.connection.abort() } else { link.connection.close() }
    }

    // MARK: - Link lifecycle

    private func closed(_ link: PeerLink, reason: TCPCloseReason) {
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
    private func linkDown(_ peer: Peer, _ link: PeerLink, reason: String) {
        retire(link, abort: true)
        markDown(peer, link, reason: reason)
    }

    /// `link` (just closed) went down; the peer is down until a new link comes up.
    private func markDown(_ peer: Peer, _ link: PeerLink, reason: String) {
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
        peer.nextDialAt = monotonicNanos() + peer.backoff.nextDelay(jitter: link.stable ? .full : .equal)
        updateRoutes()
        if runState == .leaving { finishLeavingIfDone() }
    }

    // MARK: - Frames

    private func read(_ link: PeerLink, _ bytes: UnsafeRawBufferPointer) {
        guard !link.closed else { return }
        var bytes = bytes
        if !link.isEstablished {
            bytes = readHandshake(link, bytes)
            guard link.isEstablished, !link.closed else { return }
            if link.opener != nil {
                // The peer's last handshake frame is behind us: whatever followed it is sealed.
                let rest = link.decoder.takeBuffered()
                if !rest.isEmpty { link.opener!.append(rest) }
            }
        }
        if link.opener != nil {
            if !bytes.isEmpty { link.opener!.append(bytes) }
            do {
                while try link.opener!.next({ link.decoder.append($0) }) {}
            } catch {
                return recordFailure(link, error)
            }
        } else if !bytes.isEmpty {
            link.decoder.append(bytes)
        }
        // Looked up once per read, not once per frame (a read carries thousands of DATA frames).
        var established: Peer?
        while !link.closed {
            let frame: MeshFrame?
            do {
                frame = try link.decoder.next()
            } catch {
                protocolError(link, "\(error)")
                return
            }
            guard let frame else { return }
            if link.isEstablished {
                if established == nil {
                    guard let id = link.peerId, let peer = peers[id] else { return }
                    established = peer
                }
                handle(frame, on: link, peer: established!)
            } else {
                perform(link, link.handshake.receive(frame))
            }
        }
    }

    /// Feeds an unauthenticated link at most one handshake frame's worth at a time, so a stranger can't make
    /// us buffer more than ``MeshOptions/maxHandshakeFrameBytes``. Returns the bytes left once it is established.
    private func readHandshake(_ link: PeerLink, _ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var offset = 0
        while offset < bytes.count && !link.closed && !link.isEstablished {
            // After `next()` returned nil the decoder holds less than one whole frame: there is always room.
            let room = max(1, options.maxHandshakeFrameBytes + 4 - link.decoder.bufferedCount)
            let end = min(bytes.count, offset + room)
            link.decoder.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            while !link.closed && !link.isEstablished {
                let frame: MeshFrame?
                do {
                    frame = try link.decoder.next()
                } catch {
                    protocolError(link, "\(error)")
                    return UnsafeRawBufferPointer(start: nil, count: 0)
                }
                guard let frame else { break }
                perform(link, link.handshake.receive(frame))
            }
        }
        return UnsafeRawBufferPointer(rebasing: bytes[offset...])
    }

    /// Logs a line of `key` (a source: remote host or peer) unless that source has used up its share; the next
    /// line it gets says how many were held back.
    private func limitedLog(_ level: LogLevel, key: String, _ message: String, _ metadata: [String: String]) {
        let verdict = failureLog.admit(key, now: monotonicNanos())
        guard verdict.allowed else { return }
        if verdict.suppressed > 0 {
            logger.log(level, message + " (\(verdict.suppressed) similar line(s) suppressed)", metadata)
        } else {
            logger.log(level, message, metadata)
        }
    }

    /// A record did not open (tampered, replayed, dropped or reordered on the way, or not ours): nothing on this
    /// connection can be trusted any more. Drop it at once; the redial brings fresh keys.
    private func recordFailure(_ link: PeerLink, _ error: RecordError) {
        guard let id = link.peerId, let peer = peers[id], peer.link === link else { return retire(link, abort: true) }
        linkDown(peer, link, reason: "\(error)")
    }

    private func protocolError(_ link: PeerLink, _ reason: String) {
        if !link.isEstablished {
            return perform(link, link.handshake.reject(reason: "protocol error: \(reason)"))
        }
        link.send(.reject(reason: "protocol error"))
        guard let id = link.peerId, let peer = peers[id], peer.link === link else { return retire(link, abort: false) }
        retire(link, abort: false)
        markDown(peer, link, reason: "protocol error: \(reason)")
    }

    private func handle(_ frame: MeshFrame, on link: PeerLink, peer: Peer) {
        guard peer.link === link else { return }
        link.detector?.received(now: loop.now)
        switch frame {
        case .data(let data):
            handleData(data, from: peer, on: link)
        case .resume(let cursors):
            handleResume(cursors, from: peer, on: link)
        case .ack(let cursors):
            for cursor in cursors where cursor.origin == selfId && cursor.epoch == epoch {
                peer.ackedOwn = max(peer.ackedOwn, cursor.seq)
            }
        case .heartbeat(let nanos):
            link.send(.heartbeatAck(nanos: nanos))
        case .heartbeatAck(let nanos):
            link.heartbeatAnswered = true
            let now = monotonicNanos()
            if now >= nanos { peer.rttMicros = (now - nanos) / 1000 }
        case .links(let reports):
            if reports != peer.reportedLinks {
                peer.reportedLinks = reports
                updateRoutes()
            }
        case .leaving:
            peer.leftGracefully = true
            retire(link, abort: false)
            markDown(peer, link, reason: "left")
        case .reject(let reason):
            linkDown(peer, link, reason: "closed by the peer: \(LogText.untrusted(reason))")
        case .hello, .share, .confirm, .accept:
            protocolError(link, "unexpected \(frame.type) frame on an established link")
        }
    }

    private func handleData(_ data: MeshData, from peer: Peer, on link: PeerLink) {
        peer.dataReceived &+= 1
        let origin = data.origin
        guard origin != selfId, let state = origins[origin] else {
            peer.staleDropped &+= 1
            return
        }
        // Only the origin itself, or the peer we asked to relay it, may feed us an origin: anyone else could
        // make its real messages stale with a forged epoch. Frames of a relay we just stopped using are still in
        // flight after the switch; the new path resumes from what we had delivered when we switched, so
        // dropping them loses nothing.
        if origin != peer.id && !peer.requested.contains(origin) {
            if link.everRequested.contains(origin) {
                peer.outOfOrderDropped &+= 1
            } else {
                peer.unexpectedOrigin &+= 1
            }
            return
        }
        var gapBefore = data.gapBefore
        var unheld = false
        if data.notHeldBefore && origin != peer.id && skipsAhead(state.receive, data) {
            // The relayer never held what lies before this message; the origin may still have it. Take the
            // skip only from a relayer chosen knowing that (a last resort); otherwise its report was stale:
            // correct it, and let the routes find another way (or wait).
            if state.acceptsUnheldFrom != peer.id { notHeld(data, from: peer) }
            guard state.acceptsUnheldFrom == peer.id, peer.requested.contains(origin) else {
                peer.outOfOrderDropped &+= 1
                return
            }
            gapBefore = true
            unheld = true
        }
        let verdict = state.receive.receive(epoch: data.epoch, seq: data.seq, gapBefore: gapBefore)
        switch verdict {
        case .deliver(let gap, _):
            if gap > 0 {
                peer.gaps &+= gap
                state.gaps &+= gap
                logger.warning("gap: \(gap) message(s) from \(origin) were lost", ["peer": peer.id, "origin": origin])
            }
            // Delivered seqs only grow within an epoch, so the log can always take this one; the
            // lastSeq check is belt and braces against ever trapping in `append`.
            let held = (epoch: state.log.epoch, from: state.log.heldFrom)
            if state.log.epoch != data.epoch || state.log.lastSeq >= data.seq {
                state.log = OriginLog(epoch: data.epoch, maxCount: options.logMaxCount, maxBytes: options.logMaxBytes)
            }
            state.log.append(seq: data.seq, payload: data.payload, unheldBefore: unheld)
            // What we could relay changed (a new life, or a skip): tell the peers (LINKS), and see whether a
            // relayer we skipped to now covers us.
            if state.log.heldFrom != held.from || state.log.epoch != held.epoch { updateRoutes() }
            delivered &+= 1
            link.ackDirty = true
            if isRelayed(origin) { schedulePump() }
            onDeliver?(origin, data.payload)
        case .duplicate:
            peer.duplicatesDropped &+= 1
        case .stale:
            peer.staleDropped &+= 1
        case .outOfOrder:
            peer.outOfOrderDropped &+= 1
        }
    }

    /// Whether `data` would skip messages: beyond `highest + 1` in the life we know, or a newer life not from its
    /// start. Nothing is skipped while we know nothing of the origin (we want only new messages).
    private func skipsAhead(_ receive: ReceiveState, _ data: MeshData) -> Bool {
        guard receive.epoch != 0 else { return false }
        if data.epoch == receive.epoch { return data.seq > receive.highest &+ 1 }
        return data.epoch > receive.epoch && data.seq > 1
    }

    /// A relayer fed us a NOT_HELD skip we did not accept: its log of that origin starts at `data.seq` (its LINKS
    /// said otherwise, or was in flight). Record that as its report and reroute; the route may drop it, or, if
    /// it is the last resort anyway, accept it from now on.
    private func notHeld(_ data: MeshData, from peer: Peer) {
        if let index = peer.reportedLinks.firstIndex(where: { $0.peerId == data.origin }) {
            peer.reportedLinks[index].heldEpoch = data.epoch
            peer.reportedLinks[index].heldFrom = data.seq
        }
        logger.info(
            "relay of \(data.origin) skips messages it never held; looking for another route",
            ["peer": peer.id, "origin": data.origin, "seq": "\(data.seq)"])
        updateRoutes()
    }

    /// The peer tells us which origins to feed it and from where.
    private func handleResume(_ cursors: [OriginCursor], from peer: Peer, on link: PeerLink) {
        var feeds = [PeerLink.Feed]()
        for cursor in cursors where cursor.origin == selfId || peerIds.contains(cursor.origin) {
            guard cursor.origin != peer.id, !feeds.contains(where: { $0.origin == cursor.origin }) else { continue }
            if let index = link.feedIndex(cursor.origin) {
                let current = link.feeds[index]
                // Already feeding it: keep our cursor if the peer merely hasn't received what is in flight.
                if cursor.epoch == 0 || (cursor.epoch == current.epoch && cursor.seq <= current.cursor) {
                    feeds.append(current)
                    continue
                }
            }
            var feed = PeerLink.Feed(origin: cursor.origin, epoch: cursor.epoch, cursor: cursor.seq)
            if cursor.epoch == 0 {
                // "I know nothing of this life": only messages from now on.
                let log = origins[cursor.origin]?.log
                feed.epoch = log?.epoch ?? 0
                feed.cursor = log?.lastSeq ?? 0
            }
            if cursor.origin == selfId {
                let base = feed.epoch == epoch ? feed.cursor : 0
                peer.ackedOwn = max(peer.ackedOwn, base)
            }
            feeds.append(feed)
        }
        link.feeds = feeds
        pump(link)
    }

    private func isRelayed(_ origin: String) -> Bool {
        for peer in peerList where peer.id != origin {
            if let link = peer.link, link.feedIndex(origin) != nil { return true }
        }
        return false
    }

    // MARK: - Routes (who feeds us what)

    private func cursor(for origin: String) -> OriginCursor {
        let state = origins[origin]?.receive ?? ReceiveState()
        return OriginCursor(origin: origin, epoch: state.epoch, seq: state.highest)
    }

    private func currentLinks() -> [LinkReport] {
        peerList.map { peer in
            let log = origins[peer.id]!.log
            let held = log.lastSeq > 0
            return LinkReport(
                peerId: peer.id, peerEpoch: peer.epoch, up: peer.isUp, heldEpoch: held ? log.epoch : 0,
                heldFrom: held ? log.heldFrom : 0)
        }
    }

    /// Where origin `origin` should come from now, given our cursor and the peers' LINKS.
    ///
    /// O itself when linked. Otherwise one relayer (not all of them: that keeps a broadcast from crossing
    /// the mesh several times) that holds everything after our cursor (``LinkReport/covers(epoch:seq:)``):
    /// first the lowest-id one linked to O (it gets O's new messages too), else one that only holds what O
    /// sent before (O is down, or cut from it). With none of those, nothing: we wait (delay, not loss) for
    /// O, or a replica holding its messages, to come back, up to ``MeshOptions/relayCoverWaitNanos``; then a
    /// last resort relayer (linked to O if any, holding the most) whose skip over what it never held we take.
    private func route(for origin: Peer, now: UInt64) -> (relayer: Peer?, covered: Bool, acceptsUnheld: Bool) {
        if origin.isUp { return (origin, true, false) }
        let cursor = cursor(for: origin.id)
        var holding: Peer?
        var resort: (peer: Peer, rank: (Int, UInt64))?
        for candidate in peerList where candidate !== origin && candidate.isUp {
            guard let report = candidate.reportedLinks.first(where: { $0.peerId == origin.id }) else { continue }
            let covers = report.covers(epoch: cursor.epoch, seq: cursor.seq)
            if report.up && covers { return (candidate, true, false) }
            if covers && report.heldEpoch != 0 && holding == nil { holding = candidate }
            // Last resort: linked to O first, then the same life as our cursor, then holding from the lowest seq.
            let rank = (
                (report.up ? 0 : 2) + (report.heldEpoch == cursor.epoch ? 0 : 1),
                report.heldEpoch == 0 ? UInt64.max : report.heldFrom
            )
            if report.up || report.heldEpoch != 0, resort == nil || rank < resort!.rank { resort = (candidate, rank) }
        }
        // Knowing nothing of O, we want only its new messages: nothing to wait for.
        if cursor.epoch == 0 { return (nil, true, false) }
        let state = origins[origin.id]!
        let since = state.uncoveredSince ?? now
        state.uncoveredSince = since
        if now &- since < options.relayCoverWaitNanos { return (holding, false, false) }
        // Waited long enough: O's new messages through a linked relayer, even across what it never held.
        if let resort, resort.rank.0 < 2 { return (resort.peer, false, true) }
        if let holding { return (holding, false, false) }
        guard let resort else { return (nil, false, false) }
        return (resort.peer, false, true)
    }

    /// Recomputes which peer feeds us each origin (see ``route(for:now:)``) and sends RESUME where that changed;
    /// sends LINKS when our own view (links, what we hold) changed. If its LINKS or link loss says a relayer
    /// no longer fits, the origin moves to the next one.
    private func updateRoutes() {
        guard runState == .running else { return }
        var assignment: [String: [String]] = [:]
        let now = monotonicNanos()
        var waiting = false
        for origin in peerList {
            let route = route(for: origin, now: now)
            let state = origins[origin.id]!
            state.acceptsUnheldFrom = route.acceptsUnheld ? route.relayer?.id : nil
            if route.covered { state.uncoveredSince = nil } else { waiting = true }
            guard let relayer = route.relayer else { continue }
            if relayer === origin {
                assignment[origin.id, default: []].insert(origin.id, at: 0)
            } else {
                assignment[relayer.id, default: []].append(origin.id)
            }
        }
        if waiting && routeRecheck == nil {
            // A relayer may come to cover us as our cursor moves, and the wait is bounded: look again soon.
            routeRecheck = loop.schedule(afterNanos: options.heartbeatIntervalNanos) { [weak self] in
                guard let self else { return }
                self.routeRecheck = nil
                self.updateRoutes()
            }
        }
        for peer in peerList {
            guard let link = peer.link, link.isEstablished else { continue }
            let wanted = assignment[peer.id] ?? []
            if wanted != peer.requested {
                peer.requested = wanted
                for origin in wanted where !link.everRequested.contains(origin) { link.everRequested.append(origin) }
                link.send(.resume(wanted.map(cursor(for:))))
            }
        }
        let links = currentLinks()
        if links != lastLinksSent {
            lastLinksSent = links
            for peer in peerList where peer.isUp { peer.link?.send(.links(links)) }
        }
    }

    // MARK: - Outbound data

    private func schedulePump() {
        pumpTask.arm()
    }

    /// A batch built from one origin's log in this pump round, for the next link fed from the same place: in a
    /// healthy mesh every peer is fed our own messages from the same cursor, and gets the same bytes (one
    /// encoding and one buffer per message, not one per peer). Only valid within the round: the logs don't
    /// change during it.
    private struct SharedBatch {
        var origin: String
        var epoch: UInt64
        var from: UInt64
        var to: UInt64
        var frames: UInt64
        var bytes: [UInt8]
    }

    private func pump(_ link: PeerLink) {
        var none: SharedBatch?
        pump(link, sharing: &none)
    }

    /// Pulls from the logs into the socket: batches of up to `writeBatchBytes`, while less than
    /// `maxQueuedWriteBytes` is queued. Called again when the socket drains.
    private func pump(_ link: PeerLink, sharing shared: inout SharedBatch?) {
        guard !link.closed, link.isEstablished, !link.feeds.isEmpty, let id = link.peerId, let peer = peers[id] else {
            return
        }
        let batch = options.writeBatchBytes
        let singleFeed = link.feeds.count == 1
        while link.connection.isOpen && link.connection.pendingWriteBytes < options.maxQueuedWriteBytes {
            if singleFeed, let built = shared, built.origin == link.feeds[0].origin, built.epoch == link.feeds[0].epoch,
                built.from == link.feeds[0].cursor
            {
                link.feeds[0].cursor = built.to
                if built.origin != selfId { peer.relayed &+= built.frames }
                peer.dataSent &+= built.frames
                peer.dataWrites &+= 1
                link.write(built.bytes)
                continue
            }
            var buffer = [UInt8]()
            var frames: UInt64 = 0
            var from: UInt64 = 0
            var skipped: UInt64 = 0
            for index in link.feeds.indices {
                let budget = batch - buffer.count
                guard budget > 0 else { break }
                let origin = link.feeds[index].origin
                guard let log = origins[origin]?.log else { continue }
                if link.feeds[index].epoch < log.epoch {
                    // The origin restarted since the peer's cursor: its whole new life is news.
                    link.feeds[index].epoch = log.epoch
                    link.feeds[index].cursor = 0
                }
                guard link.feeds[index].epoch == log.epoch, log.lastSeq > link.feeds[index].cursor else { continue }
                let overhead = MeshFrame.dataFrameCount(originCount: origin.utf8.count, payloadCount: 0)
                if buffer.isEmpty {
                    // Room for what is waiting, by the log's average size: a whole batch for a backlog, a few
                    // hundred bytes for one chat message (not 260 KB allocated and freed per message).
                    let waiting = log.count(after: link.feeds[index].cursor)
                    let average = log.byteCount / max(1, log.count)
                    buffer.reserveCapacity(min(batch + 4096, waiting * (average + overhead) + 256))
                }
                let epoch = log.epoch
                from = link.feeds[index].cursor
                let result = log.read(after: link.feeds[index].cursor, maxBytes: budget, perEntryOverhead: overhead) {
                    entry, skip in
                    let flags: UInt8
                    switch skip {
                    case .none: flags = 0
                    case .evicted: flags = MeshData.gapBeforeFlag
                    case .unheld: flags = MeshData.notHeldBeforeFlag
                    }
                    MeshFrame.appendData(
                        origin: origin, epoch: epoch, seq: entry.seq, flags: flags, payload: entry.payload, into: &buffer)
                }
                link.feeds[index].cursor = result.cursor
                frames += UInt64(result.count)
                if origin != selfId { peer.relayed &+= UInt64(result.count) }
                skipped &+= result.skipped
                let evicted = result.skipped - result.unheld
                if evicted > 0 {
                    peer.sendGaps &+= evicted
                    logger.warning(
                        "gap: \(evicted) message(s) of \(origin) were evicted before \(id) got them",
                        ["peer": id, "origin": origin])
                }
                if result.unheld > 0 {
                    // Flagged NOT_HELD: the peer decides whether to take the skip or get them elsewhere.
                    logger.info(
                        "relay: \(result.unheld) message(s) of \(origin) that \(id) asked for were never held here",
                        ["peer": id, "origin": origin])
                }
            }
            guard frames > 0 else { return }
            if singleFeed && skipped == 0 {
                let feed = link.feeds[0]
                shared = SharedBatch(origin: feed.origin, epoch: feed.epoch, from: from, to: feed.cursor, frames: frames, bytes: buffer)
            }
            peer.dataSent &+= frames
            peer.dataWrites &+= 1
            link.write(buffer)
        }
    }

    // MARK: - Leaving

    private func stopAccepting() {
        if let listener {
            listener.onAccept = nil
            if ownsListener { listener.close() }
        }
        listener = nil
    }

    private func finishLeavingIfDone() {
        guard runState == .leaving else { return }
        if peerList.allSatisfy({ $0.link == nil }) && handshaking.isEmpty { finishLeaving() }
    }

    private func finishLeaving() {
        guard runState == .leaving else { return }
        shutdown()
    }
}
