/// Rules that keep exactly one link per pair of replicas, and the redial schedule.
public enum LinkPolicy {
    /// A link (established or still in handshake) as the tie-break sees it.
    public struct Candidate: Sendable, Equatable {
        /// Id of the node that dialed this link.
        public var dialer: String
        /// The peer's epoch on this link, if its HELLO has been seen.
        public var peerEpoch: UInt64?

        public init(dialer: String, peerEpoch: UInt64?) {
            self.dialer = dialer
            self.peerEpoch = peerEpoch
        }
    }

    /// What to do with a freshly authenticated link when another one to the same peer may exist.
    public enum Decision: Sendable, Equatable {
        /// Keep the new link; if `closeExisting`, close the other one.
        case keepNew(closeExisting: Bool)
        /// Refuse the new link (REJECT + close) and keep the existing one.
        case rejectNew
    }

    /// The tie-break, applied by the acceptor after the dialer authenticated, and by the dialer when
    /// its outbound link completes while it already has an inbound one.
    ///
    /// 1. Epochs differ (both known): the newer life wins. The peer restarted, and the old link is a
    ///    corpse whose failure we haven't noticed yet; or the new link is a stale straggler.
    /// 2. Same dialer: the dialer gave up on the old link (it only dials when it has none), so the new
    ///    one wins.
    /// 3. Otherwise (both sides dialed each other) the link dialed by the lower id wins. Both sides
    ///    compute the same answer, so they keep the same TCP connection. An unknown epoch (handshake
    ///    not far enough) falls through to this rule: comparing it as 0 would make each side drop its
    ///    own dial in favour of the other's, losing both.
    public static func decide(selfId: String, peerId: String, existing: Candidate?, new: Candidate) -> Decision {
        guard let existing else { return .keepNew(closeExisting: false) }
        if let old = existing.peerEpoch, let fresh = new.peerEpoch, old != fresh {
            return fresh > old ? .keepNew(closeExisting: true) : .rejectNew
        }
        if existing.dialer == new.dialer { return .keepNew(closeExisting: true) }
        let lower = min(selfId, peerId)
        return new.dialer == lower ? .keepNew(closeExisting: true) : .rejectNew
    }
}
