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
        var rttMicros: UInt64?
        var dataSent: UInt64 = 0
        /// Own messages not sent to this peer because none was for it (targeted publish).
        var filteredSkipped: UInt64 = 0
        var dataReceived: UInt64 = 0
        var relayed: UInt64 = 0
        var duplicatesDropped: UInt64 = 0
        var outOfOrderDropped: UInt64 = 0
        var staleDropped: UInt64 = 0
        /// DATA for an origin this peer is neither nor was asked to relay on its current link.
        var unexpectedOrigin: UInt64 = 0
        var gaps: UInt64 = 0
        var sendGaps: UInt64 = 0
        var dataWrites: UInt64 = 0
        /// Links that came up with this peer (either role), over the node's lifetime.
        var linksEstablished: UInt64 = 0
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
