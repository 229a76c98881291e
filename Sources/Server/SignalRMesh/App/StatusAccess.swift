import NetKit

/// Who may read `GET /api/mesh` (`--status-access`).
///
/// The answer shows the cluster's layout, addresses and traffic, so by default only clients on this machine get
/// it. "On this machine" is judged by the TCP peer address of the connection alone — never by headers such as
/// `Host`, `Origin` or `X-Forwarded-For`, which the client writes.
public enum StatusAccess: String, Sendable, CaseIterable {
    /// Only clients whose peer address is loopback (127.0.0.0/8, ::1, ::ffff:127.x.y.z); others get 403.
    case local
    /// Everyone.
    case any
    /// Nobody: 404, as if there were no such endpoint.
    case off

    /// What to answer.
    enum Decision: Equatable, Sendable {
        case allow
        /// 403.
        case forbidden
        /// 404.
        case notFound
    }

    /// Decides for a client whose socket peer address is `peerHost` (as the kernel reported it; nil if unknown).
    func decide(peerHost: String?) -> Decision {
        switch self {
        case .off: return .notFound
        case .any: return .allow
        case .local:
            guard let host = peerHost, LoopbackAddress.isLoopbackPeer(host) else { return .forbidden }
            return .allow
        }
    }

    /// Decides for a connection's peer address.
    func decide(peer: SocketAddress?) -> Decision { decide(peerHost: peer?.host) }
}
