import NetKit

/// Opening links: dialing peers (with backoff and the per-peer auth throttle), accepting inbound connections (the
/// handshake cap and the per-source auth throttle), and wiring a connection's callbacks to the node.
extension MeshNode {
    func dial(_ peer: Peer) {
        let address: SocketAddress
        do {
            address = try SocketAddress(host: peer.address.numericHost, port: peer.address.port)
        } catch {
            logger.error("cannot dial peer", ["peer": peer.id, "addr": "\(peer.address)", "reason": "\(error)"])
            peer.counters.dialFailures &+= 1
            peer.nextDialAt = .max
            return
        }
        peer.dialToken &+= 1
        let token = peer.dialToken
        peer.dial = .connecting(token: token)
        TCPConnection.connect(loop: loop, to: address, timeoutNanos: options.connectTimeoutNanos) { [weak self] result in
            guard let self, case .connecting(let current) = peer.dial, current == token, self.runState == .running else {
                if case .success(let connection) = result { connection.abort() }
                return
            }
            peer.dial = .idle
            switch result {
            case .failure(let error):
                self.dialFailed(peer, reason: "\(error)")
            case .success(let connection):
                let handshake = Handshake(
                    role: .dialer, local: self.identity, nonce: Handshake.randomNonce(), expectedPeer: peer.id,
                    knownPeers: self.peerIds, encryptWith: self.encryptWith)
                let link = PeerLink(
                    connection: connection, role: .dialer, handshake: handshake,
                    maxFrameBytes: self.options.maxHandshakeFrameBytes,
                    deadline: self.now() + self.options.handshakeTimeoutNanos, intern: self.internedIds)
                link.peerId = peer.id
                peer.dial = .handshaking(link)
                self.handshaking[ObjectIdentifier(link)] = link
                self.wire(link)
                self.perform(link, link.handshake.start())
            }
        }
    }

    /// Our dial of `peer` ended without a link: redial after the backoff. `counted`: a real failure (not a
    /// tie-break our dial lost), counted in ``PeerCounters/dialFailures``.
    func dialFailed(_ peer: Peer, reason: String, level: LogLevel = .info, counted: Bool = true) {
        if counted { peer.counters.dialFailures &+= 1 }
        let now = self.now()
        peer.nextDialAt = now + peer.backoff.nextDelay()
        if case .refuse(let until) = dialThrottle.check(peer.id, now: now) { peer.nextDialAt = max(peer.nextDialAt, until) }
        if peer.lastDialFailure != reason {
            // Log each new reason once; a peer that stays down would otherwise log every second. The reason may
            // quote the peer (a REJECT): rate limited too, so one varying it each time can't flood the log.
            peer.lastDialFailure = reason
            limitedLog(level, key: "peer:" + peer.id, "dial failed", ["peer": peer.id, "addr": "\(peer.address)", "reason": reason])
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
                .warning, key: "throttled:" + source, "mesh connection refused",
                [
                    "remote": connection.remoteAddress?.description ?? "?", "source": source,
                    "reason": "too many failed authentications", "blocked_for": Self.seconds(until - now),
                ])
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
                .warning, key: "handshake-cap", "mesh connection refused",
                [
                    "remote": connection.remoteAddress?.description ?? "?", "reason": "too many in handshake",
                    "in_handshake": "\(inbound)", "refused_total": "\(refusedHandshakes)",
                ])
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

    /// "1.5s" (a log field's duration)
    static func seconds(_ nanos: UInt64) -> String { String(format: "%.1fs", Double(nanos) / 1e9) }

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
}
