import NetKit

/// Running a link's handshake: performing the state machine's actions, the acceptor's tie-break, and what a
/// failed authentication says about its source (the per-source throttles).
extension MeshNode {
    func perform(_ link: PeerLink, _ actions: [Handshake.Action]) {
        for action in actions {
            guard !link.isClosed else { return }
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
        } else if !peer.dial.isIdle {
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

    func fail(_ link: PeerLink, reason: String) {
        guard !link.isClosed else { return }
        noteAuthentication(link)
        let peer = link.peerId.flatMap { peers[$0] }
        // For log de-duplication only: an acceptor failing key confirmation has just the id the peer claimed.
        let claimed = peer ?? link.handshake.peerId.flatMap { peers[$0] }
        retire(link, abort: false)
        // Our own tie-break verdicts, or the peer's (quoted): routine, not worth a warning.
        let expected = reason.contains("duplicate link") || reason.contains("blocked (test)")
        if let peer, link.role == .dialer {
            dialFailed(peer, reason: reason, level: expected ? .debug : .warning, counted: !expected)
        } else if expected {
            logger.debug("link refused", ["peer": link.peerId ?? "?", "reason": reason])
        } else if let id = link.handshake.claimedPeerId, peers[id] == nil, departed.contains(id) {
            // A replica we removed, still running with the old peers file: expected until it is stopped.
            refusedDeparted &+= 1
            let verdict = departedLog.admit(id, now: now())
            if verdict.allowed {
                logger.info(
                    "link refused: replica removed from the peers file (stop it, or add it back)",
                    ["peer": id, "suppressed": "\(verdict.suppressed)"])
            }
        } else if let claimed {
            // A misconfigured peer redials every second: log each distinct reason once.
            if claimed.lastAcceptFailure != reason {
                claimed.lastAcceptFailure = reason
                limitedLog(
                    .warning, key: "peer:" + claimed.id, "handshake failed",
                    ["peer": claimed.id, "remote": link.connection.remoteAddress?.description ?? "?", "reason": reason])
            }
        } else {
            // A stranger: its address is the only identity it has (the port changes with every attempt).
            let remote = link.connection.remoteAddress
            limitedLog(
                .warning, key: "remote:" + (remote?.host ?? "?"), "handshake failed",
                ["remote": remote?.description ?? "?", "reason": reason])
        }
    }

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
                    .warning, key: "throttled:" + source, "blocking a source: failed authentications",
                    [
                        "source": source, "failures": "\(acceptThrottle.failures(source))",
                        "blocked_for": Self.seconds(block),
                    ])
            }
        case .dialer:
            guard let id = link.peerId else { return }
            if handshake.peerConfirmed { return dialThrottle.recordSuccess(id) }
            guard handshake.authenticationFailed || handshake.confirmedToUnprovenPeer else { return }
            failedAuthentications &+= 1
            let block = dialThrottle.recordFailure(id, now: now)
            if block > 0 {
                limitedLog(
                    .warning, key: "throttled:peer:" + id, "not dialing a peer: failed handshakes after our key confirmation",
                    ["peer": id, "failures": "\(dialThrottle.failures(id))", "blocked_for": Self.seconds(block)])
            }
        }
    }
}
