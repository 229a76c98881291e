import NetKit

/// Presence for every hub of one replica (``HubPresence``): a ``PresenceRoster`` per hub, kept mesh-wide with the
/// router's interest machinery, and the `Presence` message its joined connections get when the set changes.
///
/// - A connection that joins under a name makes this replica announce the name (an ``InterestKey`` of kind
///   `presence`) when it is the first connection here with it; the last one to leave or disconnect withdraws it.
///   Snapshots carry the names like the rest of the interest, so a replica that starts or comes back learns them,
///   and the names of a replica that becomes unreachable are dropped with its interest.
/// - Whenever the mesh-wide set of names changes, every joined connection here gets
///   `Presence(names, total)` after ``Options/debounceNanos`` (changes meanwhile are folded into one message):
///   `names` is the sorted list, cut at ``Options/maxNamesSent``, and `total` the number of distinct names. A
///   connection that joins gets the list at once.
///
/// Owned by its ``HubRouter``; confined to the replica's loop.
final class RouterPresence {
    struct Options {
        /// How long a change waits before it is sent, so that a burst of joins sends one message.
        var debounceNanos: UInt64 = 250_000_000
        /// Names sent per `Presence` message at most (`total` says how many there are).
        var maxNamesSent = 256
    }

    /// The client method the list is sent to.
    static let target = "Presence"

    unowned let router: HubRouter
    let options: Options
    private var rosters: [String: PresenceRoster] = [:]
    private var pushTimers: [String: () -> Void] = [:]
    private var lastSent: [String: [String]] = [:]

    init(router: HubRouter, options: Options = Options()) {
        self.router = router
        self.options = options
    }

    /// The roster of `hub` (empty for a hub nobody joined).
    func roster(_ hub: String) -> PresenceRoster { rosters[hub] ?? PresenceRoster() }

    // MARK: Local connections

    /// Puts a connection of this replica online as `name`. Returns why not: an invalid name (``PresenceName``) or
    /// a connection that isn't here (it closed meanwhile).
    @discardableResult
    func join(hub: String, connectionId: String, name: String) -> String? {
        if let problem = PresenceName.problem(name) { return problem }
        guard router.hub(hub).contains(connectionId) else { return HubErrors.connectionDoesNotExist(connectionId) }
        let change = rosters[hub, default: PresenceRoster()].join(connectionId, as: name)
        apply(change, hub: hub)
        send(hub: hub, to: [connectionId])
        return nil
    }

    /// Takes a connection of this replica offline (nothing happens for one that never joined). Also called for
    /// every connection that closes.
    func leave(hub: String, connectionId: String) {
        guard rosters[hub] != nil else { return }
        let change = rosters[hub]!.leave(connectionId)
        apply(change, hub: hub)
    }

    private func apply(_ change: PresenceRoster.LocalChange, hub: String) {
        if let name = change.withdraw {
            router.announce(InterestKey(hub: hub, kind: .presence, name: name), added: false, completion: nil)
        }
        if let name = change.announce {
            router.announce(InterestKey(hub: hub, kind: .presence, name: name), added: true, completion: nil)
        }
        if change.changed { schedulePush(hub) }
    }

    /// The presence keys of this replica, for a snapshot.
    func ownKeys() -> [InterestKey] {
        var keys: [InterestKey] = []
        for (hub, roster) in rosters.sorted(by: { $0.key < $1.key }) {
            for name in roster.localNames { keys.append(InterestKey(hub: hub, kind: .presence, name: name)) }
        }
        return keys
    }

    // MARK: Other replicas

    /// `replica` announced (`added`) or withdrew a presence key.
    func received(_ key: InterestKey, added: Bool, from replica: String) {
        guard key.kind == .presence else { return }
        // Only hubs served here keep a roster: a name for another hub has nobody to be shown to.
        guard router.hubs[key.hub] != nil || rosters[key.hub] != nil else { return }
        let changed =
            added
            ? rosters[key.hub, default: PresenceRoster()].add(key.name, replica: replica)
            : (rosters[key.hub]?.remove(key.name, replica: replica) ?? false)
        if changed { schedulePush(key.hub) }
    }

    /// Forgets every name of `replica` (it can't be reached, left, or is sending a fresh snapshot).
    func dropReplica(_ replica: String) {
        for hub in Array(rosters.keys) where rosters[hub]!.dropReplica(replica) {
            schedulePush(hub)
        }
    }

    // MARK: Telling the connections

    private func schedulePush(_ hub: String) {
        guard pushTimers[hub] == nil else { return }
        pushTimers[hub] = router.scheduler.schedule(afterNanos: options.debounceNanos) { [weak self] in
            guard let self else { return }
            self.pushTimers[hub] = nil
            let names = self.roster(hub).names
            guard names != self.lastSent[hub] else { return }
            self.lastSent[hub] = names
            self.send(hub: hub, to: nil)
        }
    }

    /// Sends the current list to `connectionIds` (nil: every joined connection of `hub` here).
    private func send(hub: String, to connectionIds: [String]?) {
        let roster = roster(hub)
        let ids = connectionIds ?? Array(roster.joined.keys)
        guard !ids.isEmpty else { return }
        let message = Self.message(names: roster.names, limit: options.maxNamesSent, headers: router.messageHeaders)
        router.hub(hub).deliver(message, to: .connections(ids))
    }

    /// `Presence(names, total)`, with at most `limit` names.
    static func message(names: [String], limit: Int, headers: [(key: String, value: String)]) -> OutgoingMessage {
        let shown = names.prefix(max(0, limit))
        return OutgoingMessage(capacity: 64 + shown.reduce(0) { $0 + $1.utf8.count + 3 }) { out in
            JSONHubProtocol.encodeInvocation(target: target, headers: headers, into: &out) { out in
                JSONWriter.write(.array(shown.map { .string($0) }), into: &out)
                out.append(JSONByte.comma)
                JSONWriter.write(.number(String(names.count)), into: &out)
            }
        }
    }
}
