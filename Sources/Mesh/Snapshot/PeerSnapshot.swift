/// One peer in a ``MeshSnapshot``. Counters cover this node's lifetime (they survive reconnects).
public struct PeerSnapshot: Sendable, Equatable {
    public var id: String
    /// Its mesh address from peers.json.
    public var address: String
    public var state: PeerState
    /// When `state` last changed (wall clock, ms since 1970).
    public var sinceMillis: Int64
    /// The peer's current epoch (0 = never linked).
    public var epoch: UInt64
    /// Whether the live link was dialed by us (nil when not up).
    public var dialedByUs: Bool?
    /// Whether the live link is encrypted (false when not up).
    public var encrypted: Bool
    /// Last heartbeat round trip (nil before the first).
    public var rttMicros: UInt64?
    /// DATA frames sent on this link (own and relayed).
    public var dataSent: UInt64
    /// Own messages not sent to this peer because none was addressed to it (targeted publish).
    public var filteredSkipped: UInt64 = 0
    /// DATA frames received on this link (including duplicates).
    public var dataReceived: UInt64
    /// DATA frames we sent on this link for origins other than ourselves.
    public var relayed: UInt64
    public var duplicatesDropped: UInt64
    /// Frames that raced ahead on a second path, or arrived from a relay we just stopped using, and were
    /// dropped (they arrive again in order on the path in use).
    public var outOfOrderDropped: UInt64
    /// Frames from an older life of their origin.
    public var staleDropped: UInt64
    /// DATA frames for an origin this peer is not and was never asked (RESUME) to relay on this link: dropped.
    /// Non-zero means a misbehaving peer.
    public var unexpectedOrigin: UInt64
    /// Own messages this peer has not acknowledged yet (still replayable from our log).
    public var replayBufferedMessages: Int
    public var replayBufferedBytes: Int
    /// Messages we know we missed in what this peer fed us (GAP_BEFORE).
    public var gaps: UInt64
    /// Messages this peer asked for but that were evicted from our logs before we could send them.
    public var sendGaps: UInt64
    /// Writes that carried DATA frames (dataSent / dataWrites = batching factor).
    public var dataWrites: UInt64
    /// Origins this peer asked us to feed it (RESUME), sorted.
    public var feeding: [String]
    /// Origins we asked this peer to feed us, sorted (itself, plus any it relays for us).
    public var requested: [String]
    /// The peer's own direct links, from its last LINKS frame.
    public var reportedLinks: [LinkReport]
    /// ``MeshNode/isReachable(_:)``: linked to us, or to a peer linked to us.
    public var reachable: Bool = false
    /// Links that came up with this peer (either role).
    public var linksEstablished: UInt64 = 0
    /// Our dials of this peer that failed (connect or handshake; not a tie-break lost to its own dial).
    public var dialFailures: UInt64 = 0
}
