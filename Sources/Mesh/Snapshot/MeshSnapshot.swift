/// Point-in-time view of a ``MeshNode`` (for GET /api/mesh). A plain value: the server renders it.
public struct MeshSnapshot: Sendable, Equatable {
    public var nodeId: String
    public var epoch: UInt64
    public var cluster: String
    /// Own messages published (= last own seq).
    public var published: UInt64
    /// Remote messages delivered to `onDeliver`.
    public var delivered: UInt64
    /// Remote messages this node accepted only to relay them (targeted at other replicas).
    public var storedForRelay: UInt64 = 0
    /// Own messages retained for replay.
    public var ownLogCount: Int
    public var ownLogBytes: Int
    /// Inbound connections closed at once: ``MeshOptions/maxInboundHandshakes`` were already in handshake, or the
    /// source address is blocked after failed authentications (``throttledHandshakes``).
    public var refusedHandshakes: UInt64
    /// Of ``refusedHandshakes``, those refused because their source address failed to authenticate too often
    /// (``MeshOptions/authThrottle``).
    public var throttledHandshakes: UInt64 = 0
    /// Handshakes in which the other side failed to prove it knows the secret (each one a guess at it), both roles.
    public var failedAuthentications: UInt64 = 0
    /// Other replicas, sorted by id.
    public var peers: [PeerSnapshot]
    /// Remote origins, sorted by id.
    public var origins: [OriginSnapshot]

    public func peer(_ id: String) -> PeerSnapshot? { peers.first { $0.id == id } }
    public func origin(_ id: String) -> OriginSnapshot? { origins.first { $0.id == id } }
}
