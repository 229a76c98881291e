import NetKit

extension MeshNode {
    /// Everything about one other replica that outlives a single connection.
    final class Peer {
        let id: String
        /// Its mesh address from peers.json (``MeshNode/updateMembership(_:)`` may change it).
        var address: HostPort

        // Link: the established one, our dial, and when to dial again.
        /// The established link, if any (its ``PeerLink/state`` is `.established`).
        var link: PeerLink?
        /// Our own attempt to link to it, at most one at a time.
        var dial: Dial = .idle
        /// The token of the latest dial: a connect callback is acted on only while its dial is still the one going on.
        var dialToken: UInt64 = 0
        var nextDialAt: UInt64 = 0
        var backoff: Backoff
        /// The last reason logged for a failed dial / a failed inbound handshake (each new reason is logged once).
        var lastDialFailure: String?
        var lastAcceptFailure: String?
        /// When ``state`` last changed (wall clock, ms since 1970).
        var sinceMillis: Int64

        // What we know of it.
        /// The peer's epoch as of its last handshake (0 = never linked).
        var epoch: UInt64 = 0
        /// It said LEAVING on its last link (cleared when a link comes up again).
        var leftGracefully = false
        /// Its own direct links, from its last LINKS frame (emptied when its link goes down).
        var reportedLinks: [LinkReport] = []

        // Delivery.
        /// Origins we asked it to feed us on the current link (sent as RESUME).
        var requested: [String] = []
        /// Our own messages up to this seq need no replay to it (acked, or it asked only for newer ones).
        var ackedOwn: UInt64 = 0
        /// Traffic, drops and round trip, for the snapshot.
        var counters = PeerCounters()
        /// What ``onPeerEvent`` last said about this peer, and of which of its lives (0: not known then).
        var announced: Announced = .unknown
        var announcedEpoch: UInt64 = 0

        // Test hooks.
        /// Never dial it, refuse its dials.
        var blocked = false
        /// Every record sent on links to this peer gets one byte flipped.
        var corruptRecords = false
        /// DATA frames for this peer are taken from the logs but never written (lost in flight).
        var dropData = false

        init(id: String, address: HostPort, backoff: Backoff) {
            self.id = id
            self.address = address
            self.backoff = backoff
            self.sinceMillis = wallClockMillis()
        }

        var isUp: Bool { link?.isEstablished == true }

        /// Our link in handshake (the ``Dial/handshaking(_:)`` dial), if any.
        var outbound: PeerLink? {
            if case .handshaking(let link) = dial { return link }
            return nil
        }

        /// What /api/mesh shows, derived from the link: up while one is established; before the first one,
        /// connecting; after, down, or left when the peer said LEAVING on the last one.
        var state: PeerState {
            if link != nil { return .up }
            if counters.linksEstablished == 0 { return .connecting }
            return leftGracefully ? .left : .down
        }
    }

    /// Our own attempt to link to a peer: `idle` → `connecting` → `handshaking` → back to `idle` once the link is
    /// established (it becomes ``Peer/link``), fails, or is cancelled (the peer's dial won the tie-break, shutdown).
    enum Dial {
        /// Nothing in flight: ``tick()`` dials when there is no link and ``Peer/nextDialAt`` has passed.
        case idle
        /// A TCP connect is in flight.
        case connecting(token: UInt64)
        /// Connected: our link is in handshake.
        case handshaking(PeerLink)

        var isIdle: Bool {
            if case .idle = self { return true }
            return false
        }
    }

    /// What ``onPeerEvent`` last said about a peer (see ``updateReachability()``).
    enum Announced { case unknown, reachable, unreachable, left }
}
