/// What this node knows of one remote origin's message stream.
public struct OriginSnapshot: Sendable, Equatable {
    public var id: String
    /// Life of the origin we are receiving (0 = nothing yet).
    public var epoch: UInt64
    public var highestDelivered: UInt64
    /// Messages known to be lost (GAP_BEFORE) from this origin.
    public var gaps: UInt64
    /// Messages retained in our log of this origin (for relaying).
    public var logCount: Int
    public var logBytes: Int
}
