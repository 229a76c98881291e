import NetKit

/// The write pump: pulls from the origin logs into the links' sockets, once per loop iteration and whenever a socket
/// drains, filtering our own targeted messages per peer.
extension MeshNode {
    /// Runs a pump round (``pumpAll()``) at the end of this loop iteration, once however often it is asked.
    func schedulePump() {
        pumpTask.arm()
    }

    /// One pump round: every established link, sharing batches built from the same log position.
    func pumpAll() {
        var shared: SharedBatch?
        for peer in peerList {
            if let link = peer.link { pump(link, sharing: &shared) }
        }
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
        guard !link.isClosed, link.isEstablished, !link.feeds.isEmpty, let id = link.peerId, let peer = peers[id] else {
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
                if built.origin != selfId { peer.counters.relayed &+= built.frames }
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
                var template = DataFrameTemplate(origin: origin, epoch: epoch)
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
                    if entry.destinations == nil && filtered == nil {
                        template.append(seq: entry.seq, flags: flags, payload: entry.payload, into: &buffer)
                    } else {
                        MeshFrame.appendData(
                            origin: origin, epoch: epoch, seq: entry.seq, flags: flags, destinations: entry.destinations,
                            filtered: filtered, payload: entry.payload, into: &buffer)
                    }
                    feed.lastSent = entry.seq
                    feed.pending = nil
                    feed.pendingGap = false
                    return true
                }
                link.feeds[index] = feed
                frames += UInt64(result.count)
                if isOwn {
                    peer.counters.filteredSkipped &+= UInt64(result.declined)
                    // Everything it acknowledged, and then only what was not for it: nothing of that to replay.
                    if peer.ackedOwn >= feed.lastSent { peer.ackedOwn = max(peer.ackedOwn, feed.cursor) }
                } else {
                    peer.counters.relayed &+= UInt64(result.count)
                }
                let evicted = result.skipped - result.unheld - result.filtered
                if evicted > 0 {
                    peer.counters.sendGaps &+= evicted
                    logger.warning("gap: evicted before sent", ["peer": id, "origin": origin, "lost": "\(evicted)"])
                }
                if result.unheld + holesNotHeld > 0 {
                    // Flagged NOT_HELD: the peer decides whether to take the skip or get them elsewhere.
                    logger.info(
                        "relay: asked for messages never held here",
                        ["peer": id, "origin": origin, "count": "\(result.unheld + holesNotHeld)"])
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
        peer.counters.dataSent &+= frames
        peer.counters.dataWrites &+= 1
        link.write(bytes)
    }
}
