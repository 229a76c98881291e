/// One replica's end of an ``InMemoryBackplaneNetwork``.
final class InMemoryBackplane: Backplane {
    let replicaId: String
    let replicaIds: [String]
    unowned let network: InMemoryBackplaneNetwork
    var onReceive: ((String, [UInt8]) -> Void)?
    var onPeerEvent: ((BackplanePeerEvent) -> Void)?

    init(network: InMemoryBackplaneNetwork, replicaId: String, replicaIds: [String]) {
        self.network = network
        self.replicaId = replicaId
        self.replicaIds = replicaIds
    }

    func publish(_ payload: [UInt8], to destinations: [String]?) {
        network.enqueue(from: replicaId, payload, to: destinations)
    }

    func isReachable(_ replica: String) -> Bool { network.isReachable(replica, from: replicaId) }
}
