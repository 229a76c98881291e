/// What ``MeshNode/onPeerEvent`` reports about another replica: enough for the layer above to know whose members
/// it can still reach, and whose it should forget.
public enum MeshPeerEvent: Sendable, Equatable {
    /// It became reachable (after being unreachable or leaving, or for the first time): linked to us, or to a peer
    /// linked to us. Also sent right after ``unreachable(_:)`` when it turns out to have restarted (a newer epoch, from its
    /// handshake or a peer's LINKS): whatever the layer above knew of its previous life is gone.
    case reachable(String)
    /// It is no longer reachable: no direct link and no up peer reports a link to it (its link failed, or it
    /// stopped without saying so). Also sent, right before ``reachable(_:)``, when it restarted.
    case unreachable(String)
    /// It said LEAVING (graceful shutdown).
    case left(String)
}
