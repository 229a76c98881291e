/// State of the link to one peer, as shown by GET /api/mesh.
public enum PeerState: String, Sendable, Equatable {
    /// Never linked since this node started.
    case connecting
    case up
    /// Link lost (socket closed, handshake failed or silence past the failure timeout).
    case down
    /// The peer said LEAVING (graceful shutdown).
    case left
}
