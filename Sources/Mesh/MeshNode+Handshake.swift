import NetKit

/// Running a link's handshake: performing the state machine's actions, the acceptor's tie-break, and what a
/// failed authentication says about its source (the per-source throttles).
extension MeshNode {
    // MARK: - Handshake

    func perform(_ link: PeerLink, _ actions: [Handshake.Action]) {
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
    func decideInbound(_ link: PeerLink, peerId: String, peerEpoch: UInt64) {
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

    func cancelOutbound(_ peer: Peer) {
        peer.connecting = false
        peer.dialToken &+= 1
        if let outbound = peer.outbound { retire(outbound, abort: true) }
    }

    func establish(_ link: PeerLink, peerId: String, peerEpoch: UInt64) {
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
        let now = self.now()
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

    func fail(_ link: PeerLink, reason: String) {
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
    func retire(_ link: PeerLink, abort: Bool) {
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
}
