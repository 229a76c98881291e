/// What the links to one peer carried, dropped and measured, over this node's lifetime (they survive reconnects):
/// the figures ``PeerSnapshot`` shows. Kept by the node's per-peer record; loop thread only.
struct PeerCounters {
    /// DATA frames written to the peer (own and relayed).
    var dataSent: UInt64 = 0
    /// Writes that carried DATA frames (dataSent / dataWrites = batching factor).
    var dataWrites: UInt64 = 0
    /// Own messages not sent to the peer because none was for it (targeted publish).
    var filteredSkipped: UInt64 = 0
    /// DATA frames sent to the peer for origins other than ourselves.
    var relayed: UInt64 = 0
    /// Messages the peer asked for that were evicted from our logs before it got them.
    var sendGaps: UInt64 = 0
    /// DATA frames received from the peer (including the dropped ones below).
    var dataReceived: UInt64 = 0
    var duplicatesDropped: UInt64 = 0
    /// Frames that raced ahead on a second path, or came from a relay we stopped using (they arrive again in order).
    var outOfOrderDropped: UInt64 = 0
    /// Frames from an older life of their origin (or of an unknown origin, or our own).
    var staleDropped: UInt64 = 0
    /// DATA for an origin this peer is neither nor was asked to relay on its current link.
    var unexpectedOrigin: UInt64 = 0
    /// Messages known lost (GAP_BEFORE) in what the peer fed us.
    var gaps: UInt64 = 0
    /// Links that came up with this peer (either role).
    var linksEstablished: UInt64 = 0
    /// Our dials that failed: the connect, or the handshake after it (not a tie-break lost to the peer's own dial).
    var dialFailures: UInt64 = 0
    /// Last heartbeat round trip (nil before the first answer).
    var rttMicros: UInt64?
}
