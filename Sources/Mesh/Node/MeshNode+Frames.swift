import NetKit

/// What a link receives once established: reading (records opened, frames decoded), DATA delivered exactly once
/// in each origin's order, RESUME, ACK, heartbeats and LINKS.
extension MeshNode {
    func read(_ link: PeerLink, _ bytes: UnsafeRawBufferPointer) {
        guard !link.isClosed else { return }
        var bytes = bytes
        if !link.isEstablished {
            bytes = readHandshake(link, bytes)
            guard link.isEstablished, !link.isClosed else { return }
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
        // The origin of the last DATA frames and its state: one dictionary lookup per run of frames of one origin.
        var memo = OriginMemo()
        // What the views' intern indexes refer to (the decoder's, fixed for its life).
        let intern = link.decoder.intern
        // DATA frames as views (the payload is still the decoder's: copied only if the message is kept), the rest
        // decoded.
        while !link.isClosed {
            let data: MeshDataView?
            do {
                data = try link.decoder.nextData()
            } catch {
                protocolError(link, "\(error)")
                return
            }
            if let data {
                guard let peer = established ?? arrive(link) else {
                    guard !link.isEstablished else { return }
                    perform(link, link.handshake.receive(.data(data.owned(interned: intern))))
                    continue
                }
                established = peer
                guard peer.link === link else { continue }
                handleData(
                    data, interned: intern, destinations: nil, filtered: nil, owned: nil, from: peer,
                    on: link, memo: &memo)
                continue
            }
            let frame: MeshFrame?
            do {
                frame = try link.decoder.next()
            } catch {
                protocolError(link, "\(error)")
                return
            }
            guard let frame else { return }
            guard let peer = established ?? arrive(link) else {
                guard !link.isEstablished else { return }
                perform(link, link.handshake.receive(frame))
                continue
            }
            established = peer
            // Other frames may change routes and feeds: the memo starts over.
            memo.forget()
            handle(frame, on: link, peer: peer)
        }
    }

    /// The first frame of a read on an established link: its peer (nil if there is none, or the link is not
    /// established), and a sign of life noted once per read.
    private func arrive(_ link: PeerLink) -> Peer? {
        guard link.isEstablished, let id = link.peerId, let peer = peers[id] else { return nil }
        if peer.link === link {
            let now = self.now()
            link.state.updateEstablished { $0.detector.received(now: now) }
        }
        return peer
    }

    /// What ``handleData(_:interned:destinations:filtered:owned:from:on:memo:)`` remembers between consecutive DATA frames of
    /// one read (one intern table): their origin, its state, whether it is the peer itself, and whether others are fed
    /// that origin from us (nil: not looked at yet).
    struct OriginMemo {
        /// -1: nothing remembered.
        var internIndex = -1
        var origin = ""
        var state: OriginState?
        var fromPeer = false
        var relayed: Bool?

        mutating func forget() { internIndex = -1 }
    }

    /// Feeds an unauthenticated link at most one handshake frame's worth at a time, so a stranger can't make
    /// us buffer more than ``MeshOptions/maxHandshakeFrameBytes``. Returns the bytes left once it is established.
    func readHandshake(_ link: PeerLink, _ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var offset = 0
        while offset < bytes.count && !link.isClosed && !link.isEstablished {
            // After `next()` returned nil the decoder holds less than one whole frame: there is always room.
            let room = max(1, options.maxHandshakeFrameBytes + 4 - link.decoder.bufferedCount)
            let end = min(bytes.count, offset + room)
            link.decoder.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            while !link.isClosed && !link.isEstablished {
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
    /// line it gets says how many were held back (`suppressed=N`).
    func limitedLog(_ level: LogLevel, key: String, _ message: String, _ metadata: [String: String]) {
        let verdict = failureLog.admit(key, now: now())
        guard verdict.allowed else { return }
        var fields = metadata
        if verdict.suppressed > 0 { fields["suppressed"] = "\(verdict.suppressed)" }
        logger.log(level, message, fields)
    }

    /// A record did not open (tampered, replayed, dropped or reordered on the way, or not ours): nothing on this
    /// connection can be trusted any more. Drop it at once; the redial brings fresh keys.
    func recordFailure(_ link: PeerLink, _ error: RecordError) {
        guard let id = link.peerId, let peer = peers[id], peer.link === link else { return retire(link, abort: true) }
        linkDown(peer, link, reason: "\(error)")
    }

    func protocolError(_ link: PeerLink, _ reason: String) {
        if !link.isEstablished {
            return perform(link, link.handshake.reject(reason: "protocol error: \(reason)"))
        }
        link.send(.reject(reason: "protocol error"))
        guard let id = link.peerId, let peer = peers[id], peer.link === link else { return retire(link, abort: false) }
        retire(link, abort: false)
        markDown(peer, link, reason: "protocol error: \(reason)")
    }

    func handle(_ frame: MeshFrame, on link: PeerLink, peer: Peer) {
        guard peer.link === link else { return }
        switch frame {
        case .data(let data):
            var memo = OriginMemo()
            // Frames with optional parts (targeted messages) come this way, decoded in full.
            let intern = internedIds
            data.payload.withUnsafeBytes { payload in
                var origin = data.origin
                origin.withUTF8 { originBytes in
                    let bytes = UnsafeRawBufferPointer(originBytes)
                    let view = MeshDataView(
                        originBytes: bytes, internIndex: intern.index(of: bytes), epoch: data.epoch, seq: data.seq,
                        flags: data.flags, payload: payload)
                    handleData(
                        view, interned: intern, destinations: data.destinations, filtered: data.filtered, owned: data.payload,
                        from: peer, on: link, memo: &memo)
                }
            }
        case .resume(let cursors):
            handleResume(cursors, from: peer, on: link)
        case .ack(let cursors):
            for cursor in cursors where cursor.origin == selfId && cursor.epoch == epoch {
                peer.ackedOwn = max(peer.ackedOwn, cursor.seq)
                // What we passed over since the last frame it acknowledged was not for it: nothing to replay there.
                if let index = link.feedIndex(selfId), link.feeds[index].epoch == epoch, link.feeds[index].lastSent <= cursor.seq {
                    peer.ackedOwn = max(peer.ackedOwn, link.feeds[index].cursor)
                }
            }
        case .heartbeat(let nanos):
            link.send(.heartbeatAck(nanos: nanos))
        case .heartbeatAck(let nanos):
            link.state.updateEstablished { $0.heartbeatAnswered = true }
            let now = self.now()
            if now >= nanos { peer.counters.rttMicros = (now - nanos) / 1000 }
        case .links(let reports):
            if reports != peer.reportedLinks {
                peer.reportedLinks = reports
                updateRoutes()
                // It may have become (or stopped being) the way to a replica we have no link to.
                schedulePump()
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

    /// One DATA frame from `peer`: delivered exactly once, in its origin's order, and kept in that origin's log for
    /// relaying. `table`: the intern table its ``MeshDataView/internIndex`` refers to. `destinations` and `filtered`
    /// are its optional parts. `owned` is the payload as an array when the
    /// caller has one (else it is copied from the view, and only when the message is kept). `memo` carries the
    /// origin's state from one frame to the next of one read.
    func handleData(
        _ data: MeshDataView, interned table: InternTable?, destinations: [String]?, filtered: FilteredRange?,
        owned: [UInt8]?, from peer: Peer, on link: PeerLink, memo: inout OriginMemo
    ) {
        peer.counters.dataReceived &+= 1
        let origin: String
        let state: OriginState
        let fromPeer: Bool
        if let index = data.internIndex, memo.internIndex == index {
            origin = memo.origin
            state = memo.state.unsafelyUnwrapped
            fromPeer = memo.fromPeer
        } else {
            origin = data.origin(interned: table)
            guard origin != selfId, let found = origins[origin] else {
                peer.counters.staleDropped &+= 1
                return
            }
            state = found
            fromPeer = origin == peer.id
            if let index = data.internIndex {
                memo = OriginMemo(internIndex: index, origin: origin, state: found, fromPeer: fromPeer, relayed: nil)
            } else {
                memo.forget()
            }
        }
        // Only the origin itself, or the peer we asked to relay it, may feed us an origin: anyone else could
        // make its real messages stale with a forged epoch. Frames of a relay we just stopped using are still in
        // flight after the switch; the new path resumes from what we had delivered when we switched, so
        // dropping them loses nothing.
        if !fromPeer && !peer.requested.contains(origin) {
            if link.everRequested.contains(origin) {
                peer.counters.outOfOrderDropped &+= 1
            } else {
                peer.counters.unexpectedOrigin &+= 1
            }
            return
        }
        var gapBefore = data.gapBefore
        var unheld = false
        // A FILTERED_BEFORE hole that held messages for us we don't have: the sender passed over something we need.
        var holeForUs = false
        if let mine = filtered?.latest(for: selfId) {
            let known = state.receive
            holeForUs = data.epoch == known.epoch ? mine > known.highest : data.epoch > known.epoch && known.epoch != 0
        }
        if holeForUs && fromPeer {
            // The origin itself says so: nobody else can have them.
            gapBefore = true
        }
        if (data.notHeldBefore || holeForUs) && !fromPeer && skipsAhead(state.receive, data) {
            // The relayer never held what lies before this message; the origin may still have it. Take the
            // skip only from a relayer chosen knowing that (a last resort); otherwise its report was stale:
            // correct it, and let the routes find another way (or wait).
            if state.acceptsUnheldFrom != peer.id {
                memo.forget()
                notHeld(origin: origin, epoch: data.epoch, seq: data.seq, from: peer)
            }
            guard state.acceptsUnheldFrom == peer.id, peer.requested.contains(origin) else {
                peer.counters.outOfOrderDropped &+= 1
                return
            }
            gapBefore = true
            unheld = true
        }
        let verdict = state.receive.receive(
            epoch: data.epoch, seq: data.seq, gapBefore: gapBefore, filteredFrom: holeForUs ? nil : filtered?.from)
        switch verdict {
        case .deliver(let gap, _):
            if gap > 0 {
                peer.counters.gaps &+= gap
                state.gaps &+= gap
                logger.warning("gap", ["peer": peer.id, "origin": origin, "lost": "\(gap)"])
            }
            // Delivered seqs only grow within an epoch, so the log can always take this one; the
            // lastSeq check is belt and braces against ever trapping in `append`.
            let held = (epoch: state.log.epoch, from: state.log.heldFrom)
            if state.log.epoch != data.epoch || state.log.lastSeq >= data.seq {
                state.log = OriginLog(epoch: data.epoch, maxCount: options.logMaxCount, maxBytes: options.logMaxBytes)
            }
            // A hole is recorded only when it is all that lies between: a jump taken as a loss is a loss to every
            // reader of our log too.
            let hole = gapBefore || unheld ? nil : filtered
            let payload: [UInt8]
            if let owned {
                payload = owned
                state.log.append(
                    seq: data.seq, payload: owned, destinations: destinations, filtered: hole, unheldBefore: unheld)
            } else {
                payload = state.log.append(
                    seq: data.seq, copying: data.payload, destinations: destinations, filtered: hole,
                    unheldBefore: unheld)
            }
            // What we could relay changed (a new life, or a skip): tell the peers (LINKS), and see whether a
            // relayer we skipped to now covers us.
            if state.log.heldFrom != held.from || state.log.epoch != held.epoch {
                memo.forget()
                updateRoutes()
            }
            link.ackDirty = true
            let relayed: Bool
            if memo.internIndex >= 0, let known = memo.relayed {
                relayed = known
            } else {
                relayed = isRelayed(origin)
                memo.relayed = relayed
            }
            if relayed { schedulePump() }
            if destinations?.contains(selfId) ?? true {
                delivered &+= 1
                onDeliver?(origin, payload)
            } else {
                storedForRelay &+= 1
            }
        case .duplicate:
            peer.counters.duplicatesDropped &+= 1
        case .stale:
            peer.counters.staleDropped &+= 1
        case .outOfOrder:
            peer.counters.outOfOrderDropped &+= 1
        }
    }

    /// Whether `data` would skip messages: beyond `highest + 1` in the life we know, or a newer life not from its
    /// start. Nothing is skipped while we know nothing of the origin (we want only new messages).
    func skipsAhead(_ receive: ReceiveState, _ data: MeshDataView) -> Bool {
        guard receive.epoch != 0 else { return false }
        if data.epoch == receive.epoch { return data.seq > receive.highest &+ 1 }
        return data.epoch > receive.epoch && data.seq > 1
    }

    /// The peer tells us which origins to feed it and from where.
    func handleResume(_ cursors: [OriginCursor], from peer: Peer, on link: PeerLink) {
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
                feed = PeerLink.Feed(origin: cursor.origin, epoch: log?.epoch ?? 0, cursor: log?.lastSeq ?? 0)
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
}
