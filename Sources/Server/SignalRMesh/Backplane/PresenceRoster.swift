/// Who is online in one hub, mesh-wide: the names this replica's connections joined under (``HubPresence``), and
/// the names every other replica announced for its own connections.
///
/// A value, confined like the ``HubRouter`` that owns it. Entries can't go stale: a local one lives exactly as long
/// as its connection (or until it joins under another name or leaves), and a remote one as long as its replica is
/// reachable. A replica that can't be reached is dropped whole (``dropReplica(_:)``) and sends its names again in
/// its next snapshot. The mutating methods say what the router must announce and whether the mesh-wide set of names
/// changed, so it knows when to tell the joined connections.
///
/// Names compare byte for byte (``ExactName``).
struct PresenceRoster {
    /// Remote names kept per replica at most (a bound on what a peer can make us hold); more are ignored.
    static let maxNamesPerReplica = 10_000

    /// What a local join or leave changes.
    struct LocalChange: Equatable {
        /// A name that now has its first connection here: announce it.
        var announce: String?
        /// A name whose last connection here is gone: withdraw it.
        var withdraw: String?
        /// Whether the mesh-wide set of names changed.
        var changed: Bool
    }

    private var nameOf: [String: ExactName] = [:]
    private var localCount: [ExactName: Int] = [:]
    private var remote: [String: Set<ExactName>] = [:]
    /// For each name online anywhere: how many sources have it (this replica counts once, like each other one).
    private var holders: [ExactName: Int] = [:]

    init() {}

    // MARK: Local connections

    /// Connections here that joined, with their names.
    var joined: [String: String] { nameOf.mapValues(\.string) }
    var joinedCount: Int { nameOf.count }
    func name(of connectionId: String) -> String? { nameOf[connectionId]?.string }

    /// Names with a connection here.
    var localNames: [String] { localCount.keys.map(\.string) }

    /// Puts `connectionId` online as `name` (replacing the name it had). The caller checked the name
    /// (``PresenceName``).
    mutating func join(_ connectionId: String, as name: String) -> LocalChange {
        let key = ExactName(name)
        var change = LocalChange(announce: nil, withdraw: nil, changed: false)
        if let old = nameOf[connectionId] {
            if old == key { return change }
            change = removeLocal(connectionId, old)
        }
        nameOf[connectionId] = key
        localCount[key, default: 0] += 1
        if localCount[key] == 1 {
            change.announce = name
            if addHolder(key) { change.changed = true }
        }
        return change
    }

    /// Takes `connectionId` offline (it left, or disconnected); nothing happens for one that never joined.
    mutating func leave(_ connectionId: String) -> LocalChange {
        guard let old = nameOf[connectionId] else { return LocalChange(announce: nil, withdraw: nil, changed: false) }
        return removeLocal(connectionId, old)
    }

    private mutating func removeLocal(_ connectionId: String, _ key: ExactName) -> LocalChange {
        nameOf[connectionId] = nil
        var change = LocalChange(announce: nil, withdraw: nil, changed: false)
        let left = (localCount[key] ?? 1) - 1
        localCount[key] = left > 0 ? left : nil
        if left == 0 {
            change.withdraw = key.string
            change.changed = removeHolder(key)
        }
        return change
    }

    // MARK: Other replicas

    /// `replica` announced `name`; true when the mesh-wide set changed. Invalid names and names past the
    /// per-replica bound are ignored.
    mutating func add(_ name: String, replica: String) -> Bool {
        guard PresenceName.isValid(name) else { return false }
        let key = ExactName(name)
        var names = remote[replica] ?? []
        guard !names.contains(key), names.count < Self.maxNamesPerReplica else { return false }
        names.insert(key)
        remote[replica] = names
        return addHolder(key)
    }

    /// `replica` withdrew `name`; true when the mesh-wide set changed.
    mutating func remove(_ name: String, replica: String) -> Bool {
        let key = ExactName(name)
        guard var names = remote[replica], names.remove(key) != nil else { return false }
        remote[replica] = names.isEmpty ? nil : names
        return removeHolder(key)
    }

    /// Forgets every name of `replica` (unreachable, left, or about to send a fresh snapshot); true when the
    /// mesh-wide set changed.
    mutating func dropReplica(_ replica: String) -> Bool {
        guard let names = remote.removeValue(forKey: replica) else { return false }
        var changed = false
        for key in names where removeHolder(key) { changed = true }
        return changed
    }

    /// Names `replica` announced.
    func names(of replica: String) -> [String] { (remote[replica] ?? []).map(\.string) }

    // MARK: Mesh-wide

    /// Every name online anywhere, once each, in byte order.
    var names: [String] {
        holders.keys.map(\.string).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Number of distinct names online anywhere.
    var count: Int { holders.count }

    func contains(_ name: String) -> Bool { holders[ExactName(name)] != nil }

    private mutating func addHolder(_ key: ExactName) -> Bool {
        let n = (holders[key] ?? 0) + 1
        holders[key] = n
        return n == 1
    }

    private mutating func removeHolder(_ key: ExactName) -> Bool {
        guard let n = holders[key] else { return false }
        holders[key] = n > 1 ? n - 1 : nil
        return n == 1
    }
}
