/// What carries hub traffic between replicas: the seam between the hub layer and the mesh.
///
/// Payloads are opaque bytes. Each replica's payloads reach every destination exactly once and in the order they
/// were published. ``MeshTransport`` carries them over the mesh; ``InMemoryBackplane`` carries them between
/// replicas in one process (tests). Implementations are confined to the replica's event loop: call them, and
/// they call back, on that loop.
protocol Backplane: AnyObject {
    /// This replica's id.
    var replicaId: String { get }
    /// Every replica of the cluster, this one included (it may change: see ``HubRouter/membershipChanged(replicas:removed:)``).
    var replicaIds: [String] { get }
    /// Sends `payload` to the given replicas (nil: all of them). This replica in the list is ignored; nothing is
    /// sent for an empty list.
    func publish(_ payload: [UInt8], to destinations: [String]?)
    /// Whether `replica` can be reached now (directly or through a relay).
    func isReachable(_ replica: String) -> Bool
    /// Called for each payload from another replica that is addressed to this one.
    var onReceive: ((_ origin: String, _ payload: [UInt8]) -> Void)? { get set }
    /// Called when another replica becomes reachable or unreachable, or leaves.
    var onPeerEvent: ((BackplanePeerEvent) -> Void)? { get set }
}
