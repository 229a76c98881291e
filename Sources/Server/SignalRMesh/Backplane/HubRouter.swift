import NetKit

/// Routes hub messages and group changes across the replicas: ASP.NET Core's `HubLifetimeManager` for every hub
/// of one replica, over any ``Backplane``.
///
/// - A message goes to this replica's matching connections at once, and to the other replicas that can have
///   recipients: all of them for `All`; the owner (from the id, ``ConnectionOwners``) for `Client(s)`; for groups
///   and users, only the replicas that announced members for them (``InterestTable``). A replica without members
///   gets nothing.
/// - Each replica announces the groups and users it gains or loses members for. A group addition completes once
///   every reachable replica acknowledged it, so that a message sent after `groups.add` returns reaches the new
///   member whichever replica sends it. Waits are bounded (``Options``).
/// - Interest is resynchronised with snapshots: a replica asks every replica it has no snapshot from (at start,
///   and after losing it) until it gets one, and forgets what it knew of a replica that becomes unreachable or
///   leaves.
///
/// Confined to the replica's loop.
final class HubRouter {
    struct Options {
        /// Longest wait for the other replicas to acknowledge a new group member here.
        var announceTimeoutNanos: UInt64 = 5_000_000_000
        /// Longest wait for another replica to answer a group change for one of its connections.
        var requestTimeoutNanos: UInt64 = 6_000_000_000
        /// How often a missing snapshot is asked for again.
        var syncRetryNanos: UInt64 = 500_000_000
        /// Keys per snapshot message.
        var snapshotChunk = 4096
        /// Longest group or user name (bytes).
        var maxNameBytes = 1024
    }

    let replicaId: String
    let backplane: (any Backplane)?
    private(set) var owners: ConnectionOwners
    let scheduler: any RouterScheduler
    let options: Options
    /// Headers of every invocation a hub sends: `replica` names the replica it came from (the web client
    /// labels messages with it; stock clients ignore headers).
    let messageHeaders: [(key: String, value: String)]
    private(set) var hubs: [String: LocalHubConnections] = [:]
    /// Few hubs, looked up by the name's bytes as messages arrive: no `String` per message.
    private var hubsByName: [(name: [UInt8], hub: LocalHubConnections)] = []
    private(set) var interest = InterestTable()
    /// Who is online in each hub, mesh-wide (``HubPresence``); its names travel as interest of kind `presence`.
    private(set) lazy var presence = RouterPresence(router: self)
    /// Replicas whose interest snapshot we have (and keep up to date from their announcements).
    private(set) var synced: Set<String> = []
    private var syncTimer: (() -> Void)?

    private struct PendingAnnounce {
        var key: InterestKey
        var waiting: Set<String>
        var completions: [(String?) -> Void]
        var cancelTimer: () -> Void
    }
    private var announceSeq: UInt64 = 0
    private var pendingAnnounces: [UInt64: PendingAnnounce] = [:]
    private var announceOfKey: [InterestKey: UInt64] = [:]

    private struct PendingRequest {
        var replica: String
        var completion: (String?) -> Void
        var cancelTimer: () -> Void
    }
    private var requestSeq: UInt64 = 0
    private var pendingRequests: [UInt64: PendingRequest] = [:]

    private struct PendingClientResult {
        /// The owner replica asked; nil for a connection here.
        var replica: String?
        var completion: (ClientResultOutcome) -> Void
        var cancelTimer: () -> Void
        /// Forgets the wait at the connection (a connection here).
        var cancelLocal: (() -> Void)?
    }
    private var clientResultSeq: UInt64 = 0
    private var pendingClientResults: [UInt64: PendingClientResult] = [:]
    /// Extra time an owner keeps waiting for a client after the asker's timeout (its timer started later).
    static let clientResultGraceNanos: UInt64 = 1_000_000_000

    /// Counters (tests, /api/mesh).
    private(set) var published: UInt64 = 0
    private(set) var undecodable: UInt64 = 0
    private let logger = Logger(label: "router")
    private let throttledLog: ThrottledLog?

    init(
        replicaId: String, backplane: (any Backplane)?, scheduler: any RouterScheduler, options: Options = Options(),
        throttledLog: ThrottledLog? = nil
    ) {
        self.replicaId = replicaId
        self.backplane = backplane
        self.scheduler = scheduler
        self.options = options
        self.throttledLog = throttledLog
        self.owners = ConnectionOwners(replicaId: replicaId, replicas: backplane?.replicaIds ?? [replicaId])
        self.messageHeaders = [("replica", replicaId)]
        backplane?.onReceive = { [weak self] origin, payload in self?.received(origin: origin, payload: payload) }
        backplane?.onPeerEvent = { [weak self] event in self?.peerEvent(event) }
    }

    /// The local connections of `hub`, created on first use.
    func hub(_ name: String) -> LocalHubConnections {
        if let hub = hubs[name] { return hub }
        let hub = LocalHubConnections(hubName: name)
        hubs[name] = hub
        hubsByName.append((Array(name.utf8), hub))
        return hub
    }

    /// Starts asking the other replicas for their interest.
    func start() {
        guard backplane != nil else { return }
        scheduleSync()
    }

    private var others: [String] { (backplane?.replicaIds ?? []).filter { $0 != replicaId } }

    // MARK: Connections

    /// The interest key of `hub`'s MessagePack clients.
    static func messagePackKey(_ hub: String) -> InterestKey {
        InterestKey(hub: hub, kind: .hubProtocol, name: MessagePackHubProtocol.name)
    }

    func connected(
        _ connection: any HubConnectionSink, hub name: String, user: String?, protocol kind: HubProtocolKind = .json
    ) {
        let local = hub(name)
        if local.add(connection, user: user), let user {
            announce(InterestKey(hub: name, kind: .user, name: user), added: true, completion: nil)
        }
        if kind == .messagePack, local.addMessagePack(connection.connectionId) {
            announce(Self.messagePackKey(name), added: true, completion: nil)
        }
    }

    func disconnected(_ connection: any HubConnectionSink, hub name: String) {
        let (groups, user, lastMessagePack) = hub(name).remove(connection)
        presence.leave(hub: name, connectionId: connection.connectionId)
        for group in groups { announce(InterestKey(hub: name, kind: .group, name: group), added: false, completion: nil) }
        if let user { announce(InterestKey(hub: name, kind: .user, name: user), added: false, completion: nil) }
        if lastMessagePack { announce(Self.messagePackKey(name), added: false, completion: nil) }
    }

    // MARK: Sending

    /// Delivers `message` to the matching connections here and sends it to the replicas that can have recipients.
    func send(_ message: OutgoingMessage, hub name: String, to target: RouteTarget) {
        let local = hub(name)
        local.deliver(message, to: target)
        guard let backplane else { return }
        var destinations: [String]?
        switch target {
        case .all, .allExcept:
            destinations = nil
        case .connections(let ids):
            var set = Set<String>()
            for id in ids where !local.contains(id) {
                if let owner = owners.owner(of: id), owner != replicaId { set.insert(owner) }
            }
            destinations = set.sorted()
        case .groups(let groups, _):
            var set = Set<String>()
            for g in groups { set.formUnion(interest.replicas(for: InterestKey(hub: name, kind: .group, name: g))) }
            destinations = set.sorted()
        case .users(let users):
            var set = Set<String>()
            for u in users { set.formUnion(interest.replicas(for: InterestKey(hub: name, kind: .user, name: u))) }
            destinations = set.sorted()
        }
        if let destinations, destinations.isEmpty { return }
        // The MessagePack encoding travels too while some replica has MessagePack clients of this hub (they
        // announce it like a group), so that receivers frame the message without encoding it; otherwise only JSON
        // is made (a receiver whose first MessagePack client arrived meanwhile encodes it itself, once).
        let payload: [UInt8]
        if interest.replicas(for: Self.messagePackKey(name)).isEmpty {
            payload = message.withJSON {
                ClusterMessage.encodeInvoke(hub: name, target: target, json: $0, messagePack: UnsafeRawBufferPointer(start: nil, count: 0))
            }
        } else {
            payload = message.withJSON { json in
                message.withPayload(.messagePack) { mp in
                    ClusterMessage.encodeInvoke(hub: name, target: target, json: json, messagePack: mp)
                }
            }
        }
        published &+= 1
        backplane.publish(payload, to: destinations)
    }

    // MARK: Groups

    /// Adds a connection of any replica to a group. `completion` gets nil once the membership holds mesh-wide, or
    /// the error text for the caller (no such connection, its replica unreachable, a timeout).
    func addToGroup(hub name: String, connectionId: String, group: String, completion: @escaping (String?) -> Void) {
        changeGroup(hub: name, connectionId: connectionId, group: group, add: true, completion: completion)
    }

    /// Removes a connection of any replica from a group; `completion` as for ``addToGroup``.
    func removeFromGroup(hub name: String, connectionId: String, group: String, completion: @escaping (String?) -> Void) {
        changeGroup(hub: name, connectionId: connectionId, group: group, add: false, completion: completion)
    }

    private func changeGroup(hub name: String, connectionId: String, group: String, add: Bool, completion: @escaping (String?) -> Void) {
        guard group.utf8.count <= options.maxNameBytes else {
            return completion("Group names are limited to \(options.maxNameBytes) bytes.")
        }
        if hub(name).contains(connectionId) {
            return changeLocalGroup(hub: name, connectionId: connectionId, group: group, add: add, completion: completion)
        }
        guard let owner = owners.owner(of: connectionId), owner != replicaId, let backplane else {
            return completion("Connection '\(connectionId)' does not exist.")
        }
        guard backplane.isReachable(owner) else {
            return completion("Connection '\(connectionId)' belongs to replica '\(owner)', which cannot be reached.")
        }
        requestSeq &+= 1
        let id = requestSeq
        let cancel = scheduler.schedule(afterNanos: options.requestTimeoutNanos) { [weak self] in
            self?.finishRequest(id, error: "Replica '\(owner)' did not answer in time.")
        }
        pendingRequests[id] = PendingRequest(replica: owner, completion: completion, cancelTimer: cancel)
        publish(.groupRequest(id: id, hub: name, connectionId: connectionId, group: group, add: add), to: [owner])
    }

    private func changeLocalGroup(hub name: String, connectionId: String, group: String, add: Bool, completion: @escaping (String?) -> Void) {
        let local = hub(name)
        let key = InterestKey(hub: name, kind: .group, name: group)
        if add {
            guard let first = local.addToGroup(connectionId, group) else {
                return completion("Connection '\(connectionId)' does not exist.")
            }
            if first {
                announce(key, added: true, completion: completion)
            } else if let pending = announceOfKey[key], pendingAnnounces[pending] != nil {
                // Another member's announcement is still on its way: this one holds when that one does.
                pendingAnnounces[pending]!.completions.append(completion)
            } else {
                completion(nil)
            }
        } else {
            guard let emptied = local.removeFromGroup(connectionId, group) else {
                return completion("Connection '\(connectionId)' does not exist.")
            }
            // Delivery here checks the local members: the removal holds at once; the others stop sending later.
            if emptied { announce(key, added: false, completion: nil) }
            completion(nil)
        }
    }

    private func finishRequest(_ id: UInt64, error: String?) {
        guard let request = pendingRequests.removeValue(forKey: id) else { return }
        request.cancelTimer()
        request.completion(error)
    }

    // MARK: Client results

    /// Invokes `target` on one connection of any replica and reports, once, the client's answer or why there is
    /// none: no such connection, its replica unreachable (at once, or when it becomes so), it disconnected, or
    /// `timeoutNanos` passed.
    func invokeClient(
        hub name: String, connectionId: String, target: String, arguments: [JSONValue], timeoutNanos: UInt64,
        completion: @escaping (ClientResultOutcome) -> Void
    ) {
        let local = hub(name).connections[connectionId]
        var owner: String?
        if local == nil {
            guard let o = owners.owner(of: connectionId), o != replicaId, let backplane else {
                return completion(.failed(HubErrors.connectionDoesNotExist(connectionId)))
            }
            guard backplane.isReachable(o) else {
                return completion(.failed("Connection '\(connectionId)' belongs to replica '\(o)', which cannot be reached."))
            }
            owner = o
        }
        clientResultSeq &+= 1
        let id = clientResultSeq
        let cancel = scheduler.schedule(afterNanos: timeoutNanos) { [weak self] in
            self?.finishClientResult(id, .canceled)
        }
        pendingClientResults[id] = PendingClientResult(replica: owner, completion: completion, cancelTimer: cancel)
        if let local {
            let forget = local.invokeClient(target, arguments: arguments) { [weak self] outcome in
                self?.finishClientResult(id, outcome)
            }
            pendingClientResults[id]?.cancelLocal = forget
        } else if let owner {
            publish(.clientInvoke(
                id: id, hub: name, connectionId: connectionId, target: target, arguments: arguments,
                timeoutMillis: timeoutNanos / 1_000_000), to: [owner])
        }
    }

    private func finishClientResult(_ id: UInt64, _ outcome: ClientResultOutcome) {
        guard let pending = pendingClientResults.removeValue(forKey: id) else { return }
        pending.cancelTimer()
        pending.cancelLocal?()
        pending.completion(outcome)
    }

    /// Another replica asks one of our connections: answer it, or say why not. The wait here ends a little after
    /// the asker's.
    private func answerClientInvoke(
        id: UInt64, hub name: String, connectionId: String, target: String, arguments: [JSONValue],
        timeoutMillis: UInt64, origin: String
    ) {
        guard let sink = hubs[name]?.connections[connectionId] else {
            return publish(.clientResult(id: id, outcome: .failed(HubErrors.connectionDoesNotExist(connectionId))), to: [origin])
        }
        let timer = ClientInvokeTimer()
        let forget = sink.invokeClient(target, arguments: arguments) { [weak self] outcome in
            timer.cancel?()
            self?.publish(.clientResult(id: id, outcome: outcome), to: [origin])
        }
        let wait = min(timeoutMillis, 86_400_000) * 1_000_000 + Self.clientResultGraceNanos
        timer.cancel = scheduler.schedule(afterNanos: wait) { forget() }
    }

    // MARK: Interest

    /// Tells the other replicas that this one gained (`added`) or lost members for `key`; an addition completes
    /// once every reachable replica acknowledged it.
    func announce(_ key: InterestKey, added: Bool, completion: ((String?) -> Void)?) {
        guard let backplane else {
            completion?(nil)
            return
        }
        guard added else {
            if let pending = announceOfKey.removeValue(forKey: key) { finishAnnounce(pending, error: nil) }
            publish(.interest(key: key, added: false, announce: 0), to: nil)
            return
        }
        announceSeq &+= 1
        let id = announceSeq
        let waiting = Set(others.filter { backplane.isReachable($0) })
        publish(.interest(key: key, added: true, announce: id), to: nil)
        guard !waiting.isEmpty else {
            completion?(nil)
            return
        }
        let cancel = scheduler.schedule(afterNanos: options.announceTimeoutNanos) { [weak self] in
            guard let self, let pending = self.pendingAnnounces[id] else { return }
            let missing = pending.waiting.sorted().joined(separator: ", ")
            self.finishAnnounce(id, error: "Replica(s) \(missing) did not confirm the group membership in time.")
        }
        pendingAnnounces[id] = PendingAnnounce(
            key: key, waiting: waiting, completions: completion.map { [$0] } ?? [], cancelTimer: cancel)
        announceOfKey[key] = id
    }

    private func acknowledged(_ id: UInt64, by replica: String) {
        guard pendingAnnounces[id] != nil else { return }
        pendingAnnounces[id]!.waiting.remove(replica)
        if pendingAnnounces[id]!.waiting.isEmpty { finishAnnounce(id, error: nil) }
    }

    private func finishAnnounce(_ id: UInt64, error: String?) {
        guard let pending = pendingAnnounces.removeValue(forKey: id) else { return }
        if announceOfKey[pending.key] == id { announceOfKey[pending.key] = nil }
        pending.cancelTimer()
        for completion in pending.completions { completion(error) }
    }

    /// Every group and user with members here.
    func ownKeys() -> [InterestKey] {
        var keys: [InterestKey] = []
        for (name, hub) in hubs.sorted(by: { $0.key < $1.key }) {
            for g in hub.groupNames { keys.append(InterestKey(hub: name, kind: .group, name: g)) }
            for u in hub.userIds { keys.append(InterestKey(hub: name, kind: .user, name: u)) }
            if !hub.messagePackConnections.isEmpty { keys.append(Self.messagePackKey(name)) }
        }
        return keys
    }

    private func sendSnapshot(to replica: String) {
        let keys = ownKeys()
        var start = 0
        repeat {
            let end = min(keys.count, start + options.snapshotChunk)
            publish(.snapshot(reset: start == 0, keys: Array(keys[start..<end])), to: [replica])
            start = end
        } while start < keys.count
        // Presence names go in messages of their own after the rest: a replica that doesn't know the kind drops
        // those, not the snapshot that resets its view of us.
        let names = presence.ownKeys()
        for chunk in stride(from: 0, to: names.count, by: options.snapshotChunk) {
            publish(.snapshot(reset: false, keys: Array(names[chunk..<min(names.count, chunk + options.snapshotChunk)])), to: [replica])
        }
    }

    private func scheduleSync() {
        guard syncTimer == nil, let backplane else { return }
        let missing = others.filter { !synced.contains($0) && backplane.isReachable($0) }
        guard !missing.isEmpty else { return }
        for replica in missing { publish(.snapshotRequest, to: [replica]) }
        syncTimer = scheduler.schedule(afterNanos: options.syncRetryNanos) { [weak self] in
            self?.syncTimer = nil
            self?.scheduleSync()
        }
    }

    private func peerEvent(_ event: BackplanePeerEvent) {
        switch event {
        case .reachable(let replica):
            // Ask a newly reachable replica at once, even while a retry timer for others is pending (readiness
            // waits on its snapshot); the timer retries whatever is still missing.
            if syncTimer != nil, !synced.contains(replica) { publish(.snapshotRequest, to: [replica]) }
            scheduleSync()
        case .unreachable(let replica), .left(let replica):
            forget(replica)
            forwarder?.unreachable(replica)
        }
    }

    /// The cluster's replicas changed (a reloaded peers file; `replicas` includes this one): connection ids of new
    /// replicas are recognised, and a removed one is forgotten as if it had left: its interest, what waited on it, and
    /// the sessions forwarded through it or for it (they end; their clients reconnect).
    func membershipChanged(replicas: [String], removed: [String]) {
        owners = ConnectionOwners(replicaId: replicaId, replicas: replicas)
        for replica in removed {
            forget(replica)
            forwarder?.unreachable(replica)
        }
        scheduleSync()
    }

    /// `replica` can't be reached (or left): its interest is dropped, and what waited on it ends.
    private func forget(_ replica: String) {
        interest.drop(replica)
        presence.dropReplica(replica)
        synced.remove(replica)
        for (id, request) in pendingRequests where request.replica == replica {
            finishRequest(id, error: "Replica '\(replica)' became unreachable.")
        }
        for (id, pending) in pendingClientResults where pending.replica == replica {
            finishClientResult(id, .failed("Replica '\(replica)' became unreachable."))
        }
        for id in Array(pendingAnnounces.keys) { acknowledged(id, by: replica) }
    }

    // MARK: Receiving

    /// Serves transport requests of other replicas' connections (no sticky sessions); gets `forward` messages and
    /// peer losses.
    weak var forwarder: TransportForwarder?

    /// Sends an already-encoded cluster message to one replica.
    func publishRaw(_ payload: [UInt8], to replica: String) {
        published &+= 1
        backplane?.publish(payload, to: [replica])
    }

    /// Whether `replica` can be reached now.
    func isReachable(_ replica: String) -> Bool { backplane?.isReachable(replica) ?? false }

    private func publish(_ message: ClusterMessage, to destinations: [String]?) {
        published &+= 1
        backplane?.publish(message.encode(), to: destinations)
    }

    private func received(origin: String, payload: [UInt8]) {
        payload.withUnsafeBytes { bytes in
            guard let kind = ClusterMessage.kind(of: bytes) else { return dropUndecodable(origin, payload.count) }
            if kind == .invoke {
                guard let fields = ClusterMessage.InvokeFields(bytes) else { return dropUndecodable(origin, payload.count) }
                let name = UnsafeRawBufferPointer(rebasing: bytes[fields.hub])
                // Nobody here to deliver to: nothing to frame.
                guard let hub = hubsByName.first(where: { $0.name.elementsEqual(name) })?.hub, hub.count > 0 else { return }
                let messagePack = fields.messagePack.isEmpty ? nil : UnsafeRawBufferPointer(rebasing: bytes[fields.messagePack])
                hub.deliver(
                    OutgoingMessage(json: UnsafeRawBufferPointer(rebasing: bytes[fields.json]), messagePack: messagePack),
                    to: fields.target)
                return
            }
            if kind == .forward {
                forwarder?.received(UnsafeRawBufferPointer(rebasing: bytes[2...]), from: origin)
                return
            }
            guard let message = ClusterMessage.decode(payload) else { return dropUndecodable(origin, payload.count) }
            handle(message, from: origin)
        }
    }

    private func dropUndecodable(_ origin: String, _ count: Int) {
        undecodable &+= 1
        throttledLog?.warning(logger, kind: "backplane-undecodable",
            "dropped an undecodable backplane message", ["origin": LogText.cut(origin), "bytes": "\(count)"])
    }

    private func handle(_ message: ClusterMessage, from origin: String) {
        switch message {
        case .invoke:
            break  // handled without decoding
        case .interest(let key, let added, let announce):
            if key.kind == .presence {
                presence.received(key, added: added, from: origin)
                if added { publish(.interestAck(announce), to: [origin]) }
                return
            }
            if added {
                interest.add(key, replica: origin)
                publish(.interestAck(announce), to: [origin])
            } else {
                interest.remove(key, replica: origin)
            }
        case .interestAck(let id):
            acknowledged(id, by: origin)
        case .snapshotRequest:
            sendSnapshot(to: origin)
            // It has (or will have, in order) everything we announced so far.
            for id in Array(pendingAnnounces.keys) { acknowledged(id, by: origin) }
        case .snapshot(let reset, let keys):
            if reset {
                interest.drop(origin)
                presence.dropReplica(origin)
            }
            for key in keys {
                if key.kind == .presence { presence.received(key, added: true, from: origin) } else { interest.add(key, replica: origin) }
            }
            synced.insert(origin)
        case .groupRequest(let id, let hub, let connectionId, let group, let add):
            guard hubs[hub] != nil || add else {
                return publish(.groupReply(id: id, error: "Connection '\(connectionId)' does not exist."), to: [origin])
            }
            changeGroup(hub: hub, connectionId: connectionId, group: group, add: add, remoteOrigin: origin) {
                [weak self] error in
                self?.publish(.groupReply(id: id, error: error), to: [origin])
            }
        case .groupReply(let id, let error):
            guard pendingRequests[id]?.replica == origin else { return }
            finishRequest(id, error: error)
        case .clientInvoke(let id, let hub, let connectionId, let target, let arguments, let timeoutMillis):
            answerClientInvoke(
                id: id, hub: hub, connectionId: connectionId, target: target, arguments: arguments,
                timeoutMillis: timeoutMillis, origin: origin)
        case .clientResult(let id, let outcome):
            guard pendingClientResults[id]?.replica == origin else { return }
            finishClientResult(id, outcome)
        }
    }

    /// A group change asked by another replica: only for connections here (no forwarding loops).
    private func changeGroup(
        hub name: String, connectionId: String, group: String, add: Bool, remoteOrigin: String,
        completion: @escaping (String?) -> Void
    ) {
        guard group.utf8.count <= options.maxNameBytes else {
            return completion("Group names are limited to \(options.maxNameBytes) bytes.")
        }
        guard hub(name).contains(connectionId) else { return completion("Connection '\(connectionId)' does not exist.") }
        changeLocalGroup(hub: name, connectionId: connectionId, group: group, add: add, completion: completion)
    }
}

/// The owner's timer for a client result another replica asked for, cancelled when the client answers.
private final class ClientInvokeTimer {
    var cancel: (() -> Void)?
}
