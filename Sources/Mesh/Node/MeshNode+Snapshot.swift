import NetKit

/// The node's state as a value for /api/mesh.
extension MeshNode {
    /// Current state for /api/mesh. Loop thread (see ``requestSnapshot(_:)`` from elsewhere).
    public func snapshot() -> MeshSnapshot {
        let own = self.own.log
        var peerSnapshots = [PeerSnapshot]()
        for peer in peerList {
            let linked = peer.epoch != 0
            let counters = peer.counters
            peerSnapshots.append(
                PeerSnapshot(
                    id: peer.id, address: peer.address.description, state: peer.state, sinceMillis: peer.sinceMillis,
                    epoch: peer.epoch, dialedByUs: peer.link.map { $0.role == .dialer },
                    encrypted: peer.link?.isEncrypted ?? false, rttMicros: counters.rttMicros,
                    dataSent: counters.dataSent, filteredSkipped: counters.filteredSkipped,
                    dataReceived: counters.dataReceived, relayed: counters.relayed,
                    duplicatesDropped: counters.duplicatesDropped, outOfOrderDropped: counters.outOfOrderDropped,
                    staleDropped: counters.staleDropped, unexpectedOrigin: counters.unexpectedOrigin,
                    replayBufferedMessages: linked ? own.count(after: peer.ackedOwn) : 0,
                    replayBufferedBytes: linked ? own.bytes(after: peer.ackedOwn) : 0,
                    gaps: counters.gaps, sendGaps: counters.sendGaps, dataWrites: counters.dataWrites,
                    feeding: (peer.link?.feeds.map(\.origin) ?? []).sorted(), requested: peer.requested.sorted(),
                    reportedLinks: peer.reportedLinks, reachable: isReachable(peer.id),
                    linksEstablished: counters.linksEstablished, dialFailures: counters.dialFailures))
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
            storedForRelay: storedForRelay,
            ownLogCount: own.count, ownLogBytes: own.byteCount, refusedHandshakes: refusedHandshakes,
            throttledHandshakes: throttledHandshakes, failedAuthentications: failedAuthentications, peers: peerSnapshots,
            origins: origins)
    }

    /// How many of our dials of `peer` failed so far (``PeerSnapshot/dialFailures``), without a whole snapshot;
    /// 0 for an unknown id. Loop thread.
    public func dialFailures(of peer: String) -> UInt64 { peers[peer]?.counters.dialFailures ?? 0 }

    /// Takes a snapshot on the loop and hands it to `completion` there. Safe from any thread.
    public func requestSnapshot(_ completion: @escaping @Sendable (MeshSnapshot) -> Void) {
        loop.execute { [self] in completion(snapshot()) }
    }
}
