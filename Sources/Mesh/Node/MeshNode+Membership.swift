import NetKit

/// Live membership: a new peers file applied to a running node (SIGHUP). Replicas new in it are dialed, removed ones
/// are left and forgotten, moved ones redialed at their new address; what can't change without a restart is refused.
extension MeshNode {
    /// Applies `newConfig` (a reloaded peers file) without a restart. Loop thread.
    ///
    /// - Added replicas are dialed at once; their dials are accepted.
    /// - Removed replicas get LEAVING on their link, which then closes (they see this node leave, as on a shutdown);
    ///   our dial in flight is dropped, their messages (delivery state, relay log) are forgotten, and no gap is ever
    ///   counted for them. From then on their dials are refused like any unknown id's (the handshake log is rate
    ///   limited), frames of theirs relayed by others are dropped, and our LINKS no longer mention them, so no peer
    ///   routes through us to them.
    /// - Replicas whose mesh address changed have their link closed and are dialed at the new address at once.
    ///
    /// Membership changes are not atomic across the mesh: until every replica has the new file, a replica may still
    /// relay between us and one we removed or don't know yet. Delivery stays exactly once: each node keeps its
    /// per-origin cursors, and an origin a node knows nothing of starts with its new messages.
    ///
    /// - Throws: ``MembershipError`` (and changes nothing) when the config is not valid for this node, or changes the
    ///   cluster name, the secret, the `encryption` setting or this node's own addresses, or the node is leaving.
    @discardableResult
    public func updateMembership(_ newConfig: MeshConfig) throws(MembershipError) -> MembershipChange {
        assert(loop.inEventLoop)
        guard runState == .idle || runState == .running else { throw .notRunning }
        do {
            try newConfig.validateForNode(selfId)
        } catch {
            throw .invalid(error)
        }
        // A parsed file never has these; a config built in code might.
        var seen = Set<String>()
        for replica in newConfig.replicas where !seen.insert(replica.id).inserted { throw .invalid(.duplicateId(replica.id)) }
        guard newConfig.cluster == config.cluster else { throw .clusterChanged(from: config.cluster, to: newConfig.cluster) }
        guard newConfig.secret == config.secret else { throw .secretChanged }
        guard newConfig.encryption == config.encryption else {
            throw .encryptionChanged(from: config.encryption, to: newConfig.encryption)
        }
        let me = config.replica(selfId)!
        let newMe = newConfig.replica(selfId)!
        guard newMe.mesh.normalized == me.mesh.normalized else {
            throw .ownAddressChanged(field: "mesh", from: "\(me.mesh)", to: "\(newMe.mesh)")
        }
        guard newMe.http.normalized == me.http.normalized else {
            throw .ownAddressChanged(field: "http", from: "\(me.http)", to: "\(newMe.http)")
        }

        var change = MembershipChange(replicas: newConfig.replicas.map(\.id))
        let wanted = Dictionary(uniqueKeysWithValues: newConfig.replicas.filter { $0.id != selfId }.map { ($0.id, $0) })
        for peer in peerList {
            guard let entry = wanted[peer.id] else {
                change.removed.append(peer.id)
                continue
            }
            if entry.mesh.normalized != peer.address.normalized {
                change.readdressed.append(peer.id)
            } else {
                peer.address = entry.mesh  // the same socket address written another way: nothing to redial
            }
            if let old = config.replica(peer.id), old.http != entry.http { change.httpChanged.append(peer.id) }
        }
        change.added = wanted.keys.filter { peers[$0] == nil }.sorted()
        config = newConfig
        guard !change.isEmpty else { return change }

        for id in change.removed { removePeer(id) }
        // Before anything below looks at the peer list (a closed link reroutes at once).
        rebuildPeerIndexes()
        for id in change.added { addPeer(wanted[id]!) }
        rebuildPeerIndexes()
        for id in change.readdressed { readdress(peers[id]!, to: wanted[id]!.mesh) }
        // The new addresses may ask for encryption where the old ones did not (`auto`).
        rebuildPeerIndexes()
        updateRoutes()
        schedulePump()
        if runState == .running, !change.added.isEmpty || !change.readdressed.isEmpty { tick() }
        return change
    }

    /// Says goodbye to a replica that left the config and forgets everything about it.
    private func removePeer(_ id: String) {
        guard let peer = peers[id] else { return }
        cancelOutbound(peer)
        for link in Array(handshaking.values) where link.peerId == id { retire(link, abort: true) }
        if let link = peer.link {
            // What it hears when we shut down: it stops counting on us (and drops our interest, upstairs).
            link.send(.leaving)
            retire(link, abort: false)
        }
        peers[id] = nil
        origins[id] = nil
        departed.removeAll { $0 == id }
        departed.append(id)
        if departed.count > Self.maxDeparted { departed.removeFirst(departed.count - Self.maxDeparted) }
        // Others asked us to relay its messages: nothing more comes of that (our LINKS stop naming it, and they
        // look for another route).
        for other in peerList where other !== peer { other.link?.feeds.removeAll { $0.origin == id } }
        logger.info("replica removed", ["peer": id, "reason": "no longer in the peers file"])
    }

    /// Closes the link to a replica whose mesh address changed and dials the new one at once.
    private func readdress(_ peer: Peer, to address: HostPort) {
        let old = peer.address
        peer.address = address
        cancelOutbound(peer)
        logger.info("replica moved: redialing", ["peer": peer.id, "from": "\(old)", "to": "\(address)"])
        if let link = peer.link {
            retire(link, abort: false)
            markDown(peer, link, reason: "its mesh address changed", log: false)
        }
        peer.backoff.reset()
        peer.nextDialAt = 0
        peer.lastDialFailure = nil
        // Failures at the old address say nothing about the new one.
        dialThrottle.recordSuccess(peer.id)
    }

    /// A replica new in the config: dialed at the next tick, accepted when it dials.
    private func addPeer(_ replica: Replica) {
        let peer = Peer(
            id: replica.id, address: replica.mesh,
            backoff: Backoff(baseNanos: options.backoffBaseNanos, capNanos: options.backoffCapNanos))
        peers[replica.id] = peer
        departed.removeAll { $0 == replica.id }
        // Knowing nothing of it yet: only its new messages (no replay of what it sent before we knew it, no gap).
        origins[replica.id] = OriginState(log: OriginLog(maxCount: options.logMaxCount, maxBytes: options.logMaxBytes))
    }

    /// `peerList`, `peerIds`, `encryptWith` and the intern table, from `peers`.
    private func rebuildPeerIndexes() {
        peerList = peers.values.sorted { $0.id < $1.id }
        peerIds = Set(peers.keys)
        let ownAddress = config.replica(selfId)!.mesh
        encryptWith = Set(
            peerList.filter { config.encryption.wantsEncryption(local: ownAddress, peer: $0.address) }.map(\.id))
        internedIds = InternTable([selfId] + peerList.map(\.id))
    }
}
