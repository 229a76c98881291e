/// Replicas in one process, joined without sockets: the hub layer's test bench.
///
/// Every published payload is queued for its destinations; ``deliverAll()`` hands the queue out in publish order,
/// so each origin's payloads arrive exactly once and in order, as over the mesh. The network counts what each
/// replica received, so tests can check that nothing was sent to a replica without interest.
final class InMemoryBackplaneNetwork {
    private(set) var nodes: [String: InMemoryBackplane] = [:]
    private var queue: [(origin: String, destination: String, payload: [UInt8])] = []
    /// Payloads received per replica.
    private(set) var received: [String: Int] = [:]
    /// Every delivery, in order (tests look at who got what).
    private(set) var deliveries: [(origin: String, destination: String, payload: [UInt8])] = []
    /// Replicas cut off from every other one.
    private var isolated: Set<String> = []
    /// Replicas whose incoming traffic vanishes while they still look reachable (a hung process).
    private var silent: Set<String> = []

    init() {}

    /// Adds a replica; `ids` lists the cluster (every node added gets the same list).
    func node(_ id: String, cluster ids: [String]) -> InMemoryBackplane {
        let node = InMemoryBackplane(network: self, replicaId: id, replicaIds: ids)
        nodes[id] = node
        return node
    }

    func enqueue(from origin: String, _ payload: [UInt8], to destinations: [String]?) {
        guard !isolated.contains(origin) else { return }
        let targets = destinations ?? nodes.keys.sorted()
        var seen = Set<String>()
        for id in targets where id != origin && seen.insert(id).inserted && nodes[id] != nil {
            guard !isolated.contains(id), !silent.contains(id) else { continue }
            queue.append((origin, id, payload))
        }
    }

    /// Delivers everything queued (and whatever the deliveries publish) until the queue is empty.
    func deliverAll() {
        var index = 0
        while index < queue.count {
            let item = queue[index]
            index += 1
            received[item.destination, default: 0] += 1
            deliveries.append(item)
            nodes[item.destination]?.onReceive?(item.origin, item.payload)
        }
        queue.removeAll()
    }

    /// Number of payloads waiting.
    var pending: Int { queue.count }

    func isReachable(_ id: String, from origin: String) -> Bool {
        nodes[id] != nil && !isolated.contains(id) && !isolated.contains(origin)
    }

    /// Cuts `id` off (it "dies" for the others) or brings it back; every node hears the change.
    func setIsolated(_ id: String, _ cut: Bool) {
        if cut { isolated.insert(id) } else { isolated.remove(id) }
        if cut { queue.removeAll { $0.destination == id || $0.origin == id } }
        for (other, node) in nodes where other != id {
            node.onPeerEvent?(cut ? .unreachable(id) : .reachable(id))
        }
    }

    /// `id` stops answering without looking unreachable: what is sent to it is lost.
    func setSilent(_ id: String, _ silent: Bool) {
        if silent { self.silent.insert(id) } else { self.silent.remove(id) }
    }

    /// `id` leaves the cluster gracefully.
    func leave(_ id: String) {
        isolated.insert(id)
        for (other, node) in nodes where other != id { node.onPeerEvent?(.left(id)) }
    }
}
