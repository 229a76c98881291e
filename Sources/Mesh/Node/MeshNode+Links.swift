import NetKit

/// A link's lifecycle once it exists: the periodic watch (handshake deadlines, stability, failure detection,
/// heartbeats, ACKs, redials), establishment, and going down (closed by the peer, failed, or retired by us).
extension MeshNode {
    func tick() {
        guard runState == .running || runState == .leaving else { return }
        let now = self.now()
        for link in Array(handshaking.values) {
            if let deadline = link.state.handshakeDeadline, now > deadline { fail(link, reason: "handshake timeout") }
        }
        for peer in peerList {
            if let link = peer.link, case .established(var up) = link.state {
                if !up.stable, up.heartbeatAnswered, now >= up.since && now - up.since >= options.linkStableNanos {
                    // Only a link that proved itself starts the backoff over: one that dies right after its handshake
                    // (a network corrupting records, a peer that drops us at once) must not be redialed at full speed.
                    up.stable = true
                    peer.backoff.reset()
                }
                let verdict = up.detector.poll(now: now)
                link.state = .established(up)
                if verdict.down {
                    let silence = Double(now - up.detector.lastHeardNanos) / 1e9
                    linkDown(peer, link, reason: "no frame for \(String(format: "%.2f", silence)) s")
                    continue
                }
                if verdict.sendHeartbeat {
                    link.send(.heartbeat(nanos: now))
                    if up.detector.heartbeatsSent % options.linksEveryHeartbeats == 0 { link.send(.links(currentLinks())) }
                }
                if link.ackDirty {
                    link.ackDirty = false
                    link.send(.ack(peer.requested.map(cursor(for:))))
                }
            } else if runState == .running, !peer.blocked, peer.dial.isIdle, now >= peer.nextDialAt {
                dial(peer)
            }
        }
    }

    func establish(_ link: PeerLink, peerId: String, peerEpoch: UInt64) {
        handshaking[ObjectIdentifier(link)] = nil
        guard let peer = peers[peerId] else { return retire(link, abort: true) }
        if link.role == .dialer {
            dialThrottle.recordSuccess(peerId)
            acceptThrottle.recordSuccess(AuthThrottle.sourceKey(host: peer.address.numericHost))
        }
        if peer.outbound === link { peer.dial = .idle }
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
        let detector = FailureDetector(
            now: now, heartbeatIntervalNanos: options.heartbeatIntervalNanos, timeoutNanos: options.failureTimeoutNanos)
        link.state = .established(LinkState.Established(detector: detector, since: now))
        link.corruptEveryRecord = peer.corruptRecords
        peer.counters.linksEstablished &+= 1
        peer.link = link
        peer.sinceMillis = wallClockMillis()
        // Not `backoff.reset()`: `tick` does that once the link has proved stable.
        peer.lastDialFailure = nil
        peer.lastAcceptFailure = nil
        peer.leftGracefully = false
        peer.requested = []  // forces a RESUME on this link
        limitedLog(
            .info, key: "up:" + peerId, "link up",
            [
                "peer": peerId, "remote": link.connection.remoteAddress?.description ?? "?", "epoch": "\(peerEpoch)",
                "dialed": link.role == .dialer ? "us" : "them", "encrypted": link.isEncrypted ? "yes" : "no",
            ])
        link.send(.links(currentLinks()))
        updateRoutes()
    }

    /// Stops our own dial to `peer`, wherever it is (a connect in flight, or our link in handshake).
    func cancelOutbound(_ peer: Peer) {
        let outbound = peer.outbound
        peer.dial = .idle
        if let outbound { retire(outbound, abort: true) }
    }

    /// Closes a link we no longer want without treating it as a failure (tie-break loser, handshake
    /// failure, shutdown). `abort: false` flushes what is queued first (a REJECT).
    func retire(_ link: PeerLink, abort: Bool) {
        guard !link.isClosed else { return }
        link.state.close(byUs: true)
        handshaking[ObjectIdentifier(link)] = nil
        if let id = link.peerId, let peer = peers[id] {
            if peer.outbound === link { peer.dial = .idle }
            if peer.link === link { peer.link = nil }
        }
        if abort { link.connection.abort() } else { link.connection.close() }
    }

    func closed(_ link: PeerLink, reason: TCPCloseReason) {
        let wasRetired = link.state.isRetired
        link.state.close(byUs: false)
        handshaking[ObjectIdentifier(link)] = nil
        if let id = link.peerId, let peer = peers[id] {
            if peer.outbound === link {
                peer.dial = .idle
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

    /// `link` (just closed) went down; the peer is down until a new link comes up. `log: false` when the caller
    /// already said why.
    func markDown(_ peer: Peer, _ link: PeerLink, reason: String, log: Bool = true) {
        peer.sinceMillis = wallClockMillis()
        peer.requested = []
        // Its view of the mesh is stale from now on; it sends a fresh LINKS first thing on relinking.
        peer.reportedLinks = []
        if runState == .running && log {
            if peer.leftGracefully {
                logger.info("peer left", ["peer": peer.id, "remote": link.connection.remoteAddress?.description ?? "?"])
            } else {
                // The one line per drop. A link that keeps dying the same way (a tampering network) logs a few
                // lines, then one per interval saying how many were held back. Digits (record numbers, seconds of
                // silence) don't make a reason new.
                let kind = String(reason.unicodeScalars.filter { !("0"..."9").contains($0) }.prefix(200))
                var fields = ["peer": peer.id, "remote": link.connection.remoteAddress?.description ?? "?", "reason": reason]
                if let rtt = peer.counters.rttMicros { fields["rtt"] = String(format: "%.3fms", Double(rtt) / 1000) }
                limitedLog(.warning, key: "down:\(peer.id):\(kind)", "link down", fields)
            }
        }
        // A link that died before it proved stable waits at least half the ceiling: with full jitter both sides'
        // dials would race to the earlier of two draws, relinking about every third of the cap.
        peer.nextDialAt = now() + peer.backoff.nextDelay(jitter: link.state.isStable ? .full : .equal)
        updateRoutes()
        // Our messages for it may now have to go through the peers still linked to it.
        schedulePump()
        if runState == .leaving { finishLeavingIfDone() }
    }
}
