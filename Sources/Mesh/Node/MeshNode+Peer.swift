import NetKit

extension MeshNode {
    /// Everything about one other replica that outlives a single connection.
    final class Peer {
        let id: String
        let address: HostPort
        var state: PeerState = .connecting
        var sinceMillis: Int64
        /// The established link, if any.
        var link: PeerLink?
        /// Our outbound link while in handshake.
        var outbound: PeerLink?
        /// A TCP connect is in flight; `dialToken` invalidates it when we change our mind.
        var connecting = false
        var dialToken: UInt64 = 0
        var nextDialAt: UInt64 = 0
        var backoff: Backoff
        var lastDialFailure: String?
        var lastAcceptFailure: String?
        /// The peer's epoch as of its last handshake (0 = never linked).
        var epoch: UInt64 = 0
        var blocked = false
        var leftGracefully = false
        var reportedLinks: [LinkReport] = []
        /// Origins we asked it to feed us on the current link (sent as RESUME).
        var requested: [String] = []
        /// Our own messages up to this seq need no replay to it (acked, or it asked only for newer ones).
        var ackedOwn: UInt64 = 0
        /// Traffic, drops and round trip, for the snapshot.
        var counters = PeerCounters()
        /// Test hook: every record sent on links to this peer gets one byte flipped.
        var corruptRecords = false
        /// Test hook: DATA frames for this peer are taken from the logs but never written (lost in flight).
        var dropData = false
        /// What ``onPeerEvent`` last said about this peer, and of which of its lives (0: not known then).
        var announced: Announced = .unknown
        var announcedEpoch: UInt64 = 0

        init(id: String, address: HostPort, backoff: Backoff) {
            self.id = id
            self.address = address
            self.backoff = backoff
            self.sinceMillis = wallClockMillis()
        }

        var isUp: Bool { link?.isEstablished == true }
    }

    enum Announced { case unknown, reachable, unreachable, left }
}
