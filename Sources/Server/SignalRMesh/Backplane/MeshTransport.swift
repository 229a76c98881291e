import Mesh

/// The ``Backplane`` over the mesh: payloads ride the mesh's exactly-once, per-origin-ordered delivery, addressed
/// to the replicas that need them (a replica gets no frame for a payload not addressed to it).
final class MeshTransport: Backplane {
    let mesh: MeshNode
    /// The replicas of the config in force (a reloaded peers file changes them).
    var replicaIds: [String] { mesh.config.replicas.map(\.id) }
    var onReceive: ((String, [UInt8]) -> Void)?
    var onPeerEvent: ((BackplanePeerEvent) -> Void)?

    init(mesh: MeshNode) {
        self.mesh = mesh
        mesh.onDeliver = { [weak self] origin, payload in self?.onReceive?(origin, payload) }
        mesh.onPeerEvent = { [weak self] event in
            switch event {
            case .reachable(let id): self?.onPeerEvent?(.reachable(id))
            case .unreachable(let id): self?.onPeerEvent?(.unreachable(id))
            case .left(let id): self?.onPeerEvent?(.left(id))
            }
        }
    }

    var replicaId: String { mesh.selfId }

    func publish(_ payload: [UInt8], to destinations: [String]?) {
        mesh.publish(payload, to: destinations)
    }

    func isReachable(_ replica: String) -> Bool { mesh.isReachable(replica) }
}
