/// Which other replicas have members for each group and user: where a group or user message must go.
///
/// Learned from the replicas' own announcements (``ClusterMessage/interest(key:added:announce:)`` and snapshots),
/// forgotten when a replica becomes unreachable or leaves (it sends a fresh snapshot when it is back).
struct InterestTable {
    private var byKey: [InterestKey: Set<String>] = [:]
    private var byReplica: [String: Set<InterestKey>] = [:]

    init() {}

    /// Replicas with members for `key`.
    func replicas(for key: InterestKey) -> Set<String> { byKey[key] ?? [] }

    /// Keys `replica` has members for.
    func keys(of replica: String) -> Set<InterestKey> { byReplica[replica] ?? [] }

    /// Number of (replica, key) pairs known.
    var count: Int { byReplica.values.reduce(0) { $0 + $1.count } }

    mutating func add(_ key: InterestKey, replica: String) {
        byKey[key, default: []].insert(replica)
        byReplica[replica, default: []].insert(key)
    }

    mutating func remove(_ key: InterestKey, replica: String) {
        if var set = byKey[key] {
            set.remove(replica)
            byKey[key] = set.isEmpty ? nil : set
        }
        if var set = byReplica[replica] {
            set.remove(key)
            byReplica[replica] = set.isEmpty ? nil : set
        }
    }

    /// Forgets everything known of `replica`.
    mutating func drop(_ replica: String) {
        guard let keys = byReplica.removeValue(forKey: replica) else { return }
        for key in keys {
            guard var set = byKey[key] else { continue }
            set.remove(replica)
            byKey[key] = set.isEmpty ? nil : set
        }
    }
}
