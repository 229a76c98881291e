import NetKit

/// Hooks for tests: what they read of the node's internals, and the faults they inject (cut, block, drop, corrupt).
extension MeshNode {
    /// Links in handshake (inbound and outbound). Loop thread.
    var handshakingCount: Int { handshaking.count }

    /// Tests: records sealed and opened on the live link to `peer`, and keys replaced each way (nil in clear).
    func recordCounts(_ peer: String) -> (sealed: UInt64, opened: UInt64, sendRekeys: UInt64, receiveRekeys: UInt64)? {
        guard let link = peers[peer]?.link, let sealer = link.sealer, let opener = link.opener else { return nil }
        return (sealer.recordsSealed, opener.recordsOpened, sealer.rekeys, opener.rekeys)
    }

    /// Test hook: drops the socket to `peer` as if the network failed (both sides see the link go down
    /// and redial).
    public func testCutLink(to peer: String) {
        guard let link = peers[peer]?.link else { return }
        logger.info("test: cutting link", ["peer": peer])
        link.connection.abort()
    }

    /// Test hook: while `on`, DATA frames for `peer` leave the logs as if sent but are never written: what a link
    /// that dies with frames in flight loses. Heartbeats and everything else still flow.
    func testDropData(to peer: String, _ on: Bool) {
        peers[peer]?.dropData = on
    }

    /// Test hook: flips one byte of the next record sent to `peer` (an encrypted link), as a tampering network
    /// would; the peer must drop the link.
    public func testCorruptNextRecord(to peer: String) {
        peers[peer]?.link?.corruptNextRecord = true
    }

    /// Test hook: while `on`, flips one byte of every record sent to `peer` on this and later links, as a
    /// tampering network would: every link dies as soon as it carries a record.
    public func testCorruptRecords(to peer: String, _ on: Bool) {
        guard let record = peers[peer] else { return }
        record.corruptRecords = on
        record.link?.corruptEveryRecord = on
    }

    /// Tests: failed attempts counted by the redial backoff to `peer` (0 = the next delay is the shortest).
    func backoffAttempts(_ peer: String) -> Int { peers[peer]?.backoff.attempt ?? 0 }

    /// Tests: how much longer inbound connections from `host` are refused by the auth throttle (0: not blocked).
    func acceptBlockRemaining(host: String) -> UInt64 {
        let now = self.now()
        guard case .refuse(let until) = acceptThrottle.check(AuthThrottle.sourceKey(host: host), now: now) else { return 0 }
        return until - now
    }

    /// Tests: links that came up with `peer` so far (either side dialed).
    func linksEstablished(with peer: String) -> UInt64 { peers[peer]?.counters.linksEstablished ?? 0 }

    /// Test hook: while blocked, never dial `peer` and refuse its dials (its link stays down).
    public func testBlockPeer(_ peer: String, _ blocked: Bool) {
        guard let record = peers[peer] else { return }
        record.blocked = blocked
        if blocked {
            cancelOutbound(record)
            record.link?.connection.abort()
        } else {
            record.nextDialAt = 0
            record.backoff.reset()
        }
    }
}
