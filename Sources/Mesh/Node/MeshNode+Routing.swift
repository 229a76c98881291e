import NetKit

/// Which peer feeds this node each origin (direct, or through a relayer that holds what we miss), who can be
/// reached (directly or through a peer's LINKS), and which peers get our targeted messages (the publish filter).
extension MeshNode {
    // MARK: - Routes (who feeds us each origin)

    func cursor(for origin: String) -> OriginCursor {
        let state = origins[origin]?.receive ?? ReceiveState()
        return OriginCursor(origin: origin, epoch: state.epoch, seq: state.highest)
    }

    func currentLinks() -> [LinkReport] {
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
    /// first the lowest-id one linked to O (it gets O's new messages too); else the lowest-id one linked to O's
    /// life we follow that holds nothing of it yet (O sent it only messages for others so far: O sends it ours
    /// from now on, and if it turns out to lack some we need it says NOT_HELD and we look again); else one that
    /// only holds what O sent before (O is down, or cut from it). With none of those, nothing: we wait (delay, not loss) for
    /// O, or a replica holding its messages, to come back, up to ``MeshOptions/relayCoverWaitNanos``; then a
    /// last resort relayer (linked to O if any, holding the most) whose skip over what it never held we take.
    func route(for origin: Peer, now: UInt64) -> (relayer: Peer?, covered: Bool, acceptsUnheld: Bool) {
        if origin.isUp { return (origin, true, false) }
        let cursor = cursor(for: origin.id)
        var holding: Peer?
        var linkedEmpty: Peer?
        var resort: (peer: Peer, rank: (Int, UInt64))?
        for candidate in peerList where candidate !== origin && candidate.isUp {
            guard let report = candidate.reportedLinks.first(where: { $0.peerId == origin.id }) else { continue }
            let covers = report.covers(epoch: cursor.epoch, seq: cursor.seq)
            if report.up && covers { return (candidate, true, false) }
            if report.up && cursor.epoch != 0 && report.peerEpoch == cursor.epoch && report.heldEpoch < cursor.epoch
                && linkedEmpty == nil
            {
                linkedEmpty = candidate
            }
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
        if let linkedEmpty { return (linkedEmpty, true, false) }
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
    func updateRoutes() {
        guard runState == .running else { return }
        var assignment: [String: [String]] = [:]
        let now = self.now()
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
        updateReachability()
    }

    /// A relayer fed us a NOT_HELD skip we did not accept: its log of that origin starts at `seq` (its LINKS
    /// said otherwise, or was in flight). Record that as its report and reroute; the route may drop it, or, if
    /// it is the last resort anyway, accept it from now on.
    func notHeld(origin: String, epoch: UInt64, seq: UInt64, from peer: Peer) {
        if let index = peer.reportedLinks.firstIndex(where: { $0.peerId == origin }) {
            peer.reportedLinks[index].heldEpoch = epoch
            peer.reportedLinks[index].heldFrom = seq
        }
        logger.info(
            "relay skips messages it never held; looking for another route",
            ["peer": peer.id, "origin": origin, "seq": "\(seq)"])
        updateRoutes()
    }

    func isRelayed(_ origin: String) -> Bool {
        for peer in peerList where peer.id != origin {
            if let link = peer.link, link.feedIndex(origin) != nil { return true }
        }
        return false
    }

    // MARK: - Reachability (what the layer above is told)

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

    /// Tells ``onPeerEvent`` which peers became reachable or unreachable, or left, since it last heard. A peer
    /// seen in a newer life (its handshake, or a peer's LINKS) while reachable restarted in between: unreachable,
    /// then reachable again.
    func updateReachability() {
        for peer in peerList {
            if isReachable(peer.id) {
                let life = knownEpoch(peer)
                if peer.announced == .reachable {
                    guard life > peer.announcedEpoch else { continue }
                    if peer.announcedEpoch == 0 {
                        peer.announcedEpoch = life
                        continue
                    }
                    onPeerEvent?(.unreachable(peer.id))
                }
                peer.announced = .reachable
                peer.announcedEpoch = life
                onPeerEvent?(.reachable(peer.id))
            } else if peer.leftGracefully {
                guard peer.announced != .left else { continue }
                peer.announced = .left
                onPeerEvent?(.left(peer.id))
            } else if peer.announced == .reachable {
                peer.announced = .unreachable
                onPeerEvent?(.unreachable(peer.id))
            }
        }
    }

    /// The newest life of `peer` we know of: from its handshakes, or from an up peer's report of a link to it.
    func knownEpoch(_ peer: Peer) -> UInt64 {
        var life = peer.epoch
        for other in peerList where other !== peer && other.isUp {
            for report in other.reportedLinks where report.peerId == peer.id && report.up { life = max(life, report.peerEpoch) }
        }
        return life
    }

    // MARK: - The targeted-publish filter (which peers get our own messages)

    /// Whether `peer` gets our own message `entry`: it is for every replica or for `peer`, or for a replica we have
    /// no link to and `peer` has (`relayFor`) that has not acknowledged it, which may need it relayed. The peer holds
    /// those without delivering them.
    func wants(_ entry: OriginLog.Entry, peer: String, relayFor: [RelayTarget]) -> Bool {
        guard let destinations = entry.destinations else { return true }
        if destinations.contains(peer) { return true }
        for target in relayFor where entry.seq > target.acked && destinations.contains(target.id) { return true }
        return false
    }

    /// A replica we have no link to that a peer reports a link to, and how far it acknowledged our messages.
    struct RelayTarget {
        var id: String
        var acked: UInt64
    }

    /// The replicas we have no link to and `peer` reports a link to (its last LINKS): it may be the way there.
    func relayTargets(via peer: Peer) -> [RelayTarget] {
        var targets = [RelayTarget]()
        for report in peer.reportedLinks where report.up && report.peerId != selfId && report.peerId != peer.id {
            if let target = peers[report.peerId], !target.isUp {
                targets.append(RelayTarget(id: target.id, acked: target.ackedOwn))
            }
        }
        return targets
    }
}
