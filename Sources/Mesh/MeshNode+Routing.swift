import NetKit

/// Which peer feeds this node each origin (direct, or through a relayer that holds what we miss), and the pump
/// that pulls from the origin logs into the links' sockets.
extension MeshNode {
    // MARK: - Routes (who feeds us what)

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

    // MARK: - Outbound data

    func schedulePump() {
        pumpTask.arm()
    }

    /// A batch built from one origin's log in this pump round, for the next link fed from the same place: in a
    /// healthy mesh every peer is fed our own messages from the same cursor, and gets the same bytes (one
    /// encoding and one buffer per message, not one per peer). Only valid within the round: the logs don't
    /// change during it.
    struct SharedBatch {
        var origin: String
        var epoch: UInt64
        var from: UInt64
        var to: UInt64
        var frames: UInt64
        var bytes: [UInt8]
    }

    func pump(_ link: PeerLink) {
        var none: SharedBatch?
        pump(link, sharing: &none)
    }

    /// Pulls from the logs into the socket: batches of up to `writeBatchBytes`, while less than
    /// `maxQueuedWriteBytes` is queued. Called again when the socket drains.
    ///
    /// Our own messages are filtered per peer (``wants(_:peer:relayFor:)``): one passed over is not sent, and the
    /// next frame sent on that feed says FILTERED_BEFORE with what it passed over. What we relay is never
    /// filtered; a hole in our log of that origin (filtered on its way to us) is FILTERED_BEFORE for the peer
    /// too, unless it held messages for the peer beyond the peer's cursor: then NOT_HELD (the origin has them).
    func pump(_ link: PeerLink, sharing shared: inout SharedBatch?) {
        guard !link.closed, link.isEstablished, !link.feeds.isEmpty, let id = link.peerId, let peer = peers[id] else {
            return
        }
        let batch = options.writeBatchBytes
        let singleFeed = link.feeds.count == 1
        let relayFor = relayTargets(via: peer)
        if relayFor.contains(where: { target in !link.relayingFor.contains(target.id) }), let index = link.feedIndex(selfId),
            link.feeds[index].epoch == epoch, link.feeds[index].cursor > link.feeds[index].lastSent
        {
            // A replica we just lost our link to may need, through this peer, what we passed over since our last
            // frame to it (it was in flight on the link that went): look at those again. The peer has seen
            // nothing of them yet, so its position is our last frame.
            link.feeds[index].restart(epoch: epoch, cursor: link.feeds[index].lastSent)
        }
        link.relayingFor = relayFor.map(\.id)
        while link.connection.isOpen && link.connection.pendingWriteBytes < options.maxQueuedWriteBytes {
            if singleFeed, let built = shared, built.origin == link.feeds[0].origin, built.epoch == link.feeds[0].epoch,
                built.from == link.feeds[0].cursor, link.feeds[0].pending == nil, !link.feeds[0].pendingGap
            {
                link.feeds[0].cursor = built.to
                link.feeds[0].lastSent = built.to
                if built.origin != selfId { peer.relayed &+= built.frames }
                write(built.bytes, frames: built.frames, to: peer, on: link)
                continue
            }
            var buffer = [UInt8]()
            var frames: UInt64 = 0
            var from: UInt64 = 0
            // Only a batch of plain broadcast frames is the same for every peer.
            var shareable = singleFeed
            for index in link.feeds.indices {
                let budget = batch - buffer.count
                guard budget > 0 else { break }
                let origin = link.feeds[index].origin
                guard let log = origins[origin]?.log else { continue }
                if link.feeds[index].epoch < log.epoch {
                    // The origin restarted since the peer's cursor: its whole new life is news.
                    link.feeds[index].restart(epoch: log.epoch, cursor: 0)
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
                let isOwn = origin == selfId
                var feed = link.feeds[index]
                from = feed.cursor
                if feed.pending != nil || feed.pendingGap { shareable = false }
                // Holes crossed that held messages for the peer beyond its cursor (sent as NOT_HELD).
                var holesNotHeld: UInt64 = 0
                let result = log.scan(after: feed.cursor, maxBytes: budget, perEntryOverhead: overhead) { entry, skip in
                    let position = feed.cursor
                    feed.cursor = entry.seq
                    var flags: UInt8 = feed.pendingGap ? MeshData.gapBeforeFlag : 0
                    var filtered = feed.pending
                    switch skip {
                    case .none: break
                    case .evicted: flags |= MeshData.gapBeforeFlag
                    case .unheld: flags |= MeshData.notHeldBeforeFlag
                    case .filtered(let hole):
                        if let mark = hole.latest(for: id), mark > position {
                            flags |= MeshData.notHeldBeforeFlag
                            holesNotHeld &+= entry.seq - position - 1
                        } else if filtered == nil {
                            filtered = hole.after(position)
                        } else {
                            // Not reached: only our own feeds pass messages over, and our own log has no holes.
                            flags |= MeshData.gapBeforeFlag
                        }
                    }
                    if isOwn, !wants(entry, peer: id, relayFor: relayFor), let destinations = entry.destinations,
                        (filtered?.latest.count ?? 0) + (filtered?.newMarks(destinations) ?? destinations.count)
                            <= FilteredRange.maxMarks
                    {
                        var pending = filtered ?? FilteredRange(from: position &+ 1)
                        pending.add(seq: entry.seq, destinations: destinations)
                        feed.pending = pending
                        feed.pendingGap = flags & MeshData.gapBeforeFlag != 0
                        shareable = false
                        return false
                    }
                    if flags != 0 || filtered != nil || entry.destinations != nil { shareable = false }
                    MeshFrame.appendData(
                        origin: origin, epoch: epoch, seq: entry.seq, flags: flags, destinations: entry.destinations,
                        filtered: filtered, payload: entry.payload, into: &buffer)
                    feed.lastSent = entry.seq
                    feed.pending = nil
                    feed.pendingGap = false
                    return true
                }
                link.feeds[index] = feed
                frames += UInt64(result.count)
                if isOwn {
                    peer.filteredSkipped &+= UInt64(result.declined)
                    // Everything it acknowledged, and then only what was not for it: nothing of that to replay.
                    if peer.ackedOwn >= feed.lastSent { peer.ackedOwn = max(peer.ackedOwn, feed.cursor) }
                } else {
                    peer.relayed &+= UInt64(result.count)
                }
                let evicted = result.skipped - result.unheld - result.filtered
                if evicted > 0 {
                    peer.sendGaps &+= evicted
                    logger.warning(
                        "gap: \(evicted) message(s) of \(origin) were evicted before \(id) got them",
                        ["peer": id, "origin": origin])
                }
                if result.unheld + holesNotHeld > 0 {
                    // Flagged NOT_HELD: the peer decides whether to take the skip or get them elsewhere.
                    logger.info(
                        "relay: \(result.unheld + holesNotHeld) message(s) of \(origin) that \(id) asked for were never held here",
                        ["peer": id, "origin": origin])
                }
            }
            guard frames > 0 else { return }
            if singleFeed && shareable {
                let feed = link.feeds[0]
                shared = SharedBatch(origin: feed.origin, epoch: feed.epoch, from: from, to: feed.cursor, frames: frames, bytes: buffer)
            }
            write(buffer, frames: frames, to: peer, on: link)
        }
    }

    /// One batch of DATA frames onto the link (or, with the test hook on, nowhere: lost in flight).
    private func write(_ bytes: [UInt8], frames: UInt64, to peer: Peer, on link: PeerLink) {
        guard !peer.dropData else { return }
        peer.dataSent &+= frames
        peer.dataWrites &+= 1
        link.write(bytes)
    }

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

    /// The newest life of `peer` we know of: from its handshakes, or from an up peer's report of a link to it.
    func knownEpoch(_ peer: Peer) -> UInt64 {
        var life = peer.epoch
        for other in peerList where other !== peer && other.isUp {
            for report in other.reportedLinks where report.peerId == peer.id && report.up { life = max(life, report.peerEpoch) }
        }
        return life
    }
}
