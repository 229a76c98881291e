import NetKit

/// One hub's connections on this replica, with their groups and users: who gets a message here.
///
/// Confined to the replica's loop. Reports when a group or user gains its first or loses its last member here,
/// which is when the other replicas must hear of it (``HubRouter``).
final class LocalHubConnections {
    let hubName: String
    private(set) var connections: [String: any HubConnectionSink] = [:]
    /// Broadcasts to WebSocket connections without stateful reconnect: one ``SharedOutput`` per hub protocol
    /// (indexed by ``HubProtocolKind/rawValue``), so a broadcast costs one append per protocol in use, and each
    /// such connection one write per loop turn however many broadcasts the turn carried.
    private var sharedOutputs: [SharedOutput?] = Array(repeating: nil, count: HubProtocolKind.allCases.count)
    /// How broadcasts reach each connection, by connection id: through its socket in one of those outputs, or
    /// through `sendMessage` at its index in `ordered`.
    private var places: [String: BroadcastPlace] = [:]
    /// The connections broadcasts reach through `sendMessage`, side by side (no dictionary walk). Order among
    /// connections is arbitrary (removal moves the last one into the gap).
    private var ordered: [any HubConnectionSink] = []
    /// Where a connection is for broadcasts. 8 bytes: a 32-bit index leaves the reference's spare bits for the
    /// case, so an entry of `places` is as small as one of an `[String: Int]`.
    private enum BroadcastPlace {
        /// Its socket is a member of one of `sharedOutputs`.
        case shared(TCPConnection)
        /// At this index in `ordered`.
        case listed(Int32)
    }
    // Group names and user ids are keyed by their exact bytes (``ExactName``), connection ids are ASCII.
    private var groupMembers: [ExactName: Set<String>] = [:]
    private var groupsOf: [String: Set<ExactName>] = [:]
    private var userConnections: [ExactName: Set<String>] = [:]
    private var userOf: [String: ExactName] = [:]
    /// Connections here that speak MessagePack.
    private(set) var messagePackConnections: Set<String> = []
    /// Messages handed to connections here by ``deliver(_:to:)``, one per recipient (for `/metrics`).
    private(set) var messagesDelivered: UInt64 = 0

    init(hubName: String) { self.hubName = hubName }

    var count: Int { connections.count }
    func contains(_ connectionId: String) -> Bool { connections[connectionId] != nil }
    /// Groups and users with members here.
    var groupNames: [String] { groupMembers.keys.map(\.string) }
    var userIds: [String] { userConnections.keys.map(\.string) }
    func members(of group: String) -> Set<String> { groupMembers[ExactName(group)] ?? [] }
    func groups(of connectionId: String) -> [String] { (groupsOf[connectionId] ?? []).map(\.string) }

    /// Adds a connection; returns true when `user` had no connection here before.
    @discardableResult
    func add(_ connection: any HubConnectionSink, user: String?) -> Bool {
        if let old = connections[connection.connectionId] { detach(old) }
        connections[connection.connectionId] = connection
        attach(connection)
        guard let user else { return false }
        let key = ExactName(user)
        userOf[connection.connectionId] = key
        return userConnections[key, default: []].insert(connection.connectionId).inserted
            && userConnections[key]!.count == 1
    }

    /// Notes that a connection here speaks MessagePack; true when it is the first.
    func addMessagePack(_ connectionId: String) -> Bool {
        messagePackConnections.insert(connectionId).inserted && messagePackConnections.count == 1
    }

    /// Removes a connection (if `connection` is the one registered under its id) with its group memberships.
    /// Returns the groups and the user that have no member here any more.
    func remove(_ connection: any HubConnectionSink) -> (emptiedGroups: [String], emptiedUser: String?, lastMessagePack: Bool) {
        let id = connection.connectionId
        guard connections[id] === connection else { return ([], nil, false) }
        connections[id] = nil
        detach(connection)
        let lastMessagePack = messagePackConnections.remove(id) != nil && messagePackConnections.isEmpty
        var emptied: [String] = []
        for group in groupsOf.removeValue(forKey: id) ?? [] where removeMember(id, from: group) {
            emptied.append(group.string)
        }
        var emptiedUser: String?
        if let user = userOf.removeValue(forKey: id), var set = userConnections[user] {
            set.remove(id)
            if set.isEmpty {
                userConnections[user] = nil
                emptiedUser = user.string
            } else {
                userConnections[user] = set
            }
        }
        return (emptied, emptiedUser, lastMessagePack)
    }

    /// Puts a connection where broadcasts reach it: a shared output when its socket can take the frames as is
    /// (on the same loop as the output's other members), else the list walked with `sendMessage`.
    private func attach(_ connection: any HubConnectionSink) {
        if let (socket, kind) = connection.sharedFrameSocket, let output = sharedOutput(kind, loop: socket.loop) {
            output.join(socket)
            if output.contains(socket) {
                places[connection.connectionId] = .shared(socket)
                return
            }
        }
        places[connection.connectionId] = .listed(Int32(ordered.count))
        ordered.append(connection)
    }

    /// Takes a connection out of the broadcasts; what this turn's broadcasts hold for it stays queued for it.
    private func detach(_ connection: any HubConnectionSink) {
        switch places.removeValue(forKey: connection.connectionId) {
        case .shared(let socket):
            socket.leaveSharedOutput()
        case .listed(let slot):
            let last = ordered.removeLast()
            if Int(slot) < ordered.count {
                ordered[Int(slot)] = last
                places[last.connectionId] = .listed(slot)
            }
        case nil:
            break
        }
    }

    private func sharedOutput(_ kind: HubProtocolKind, loop: EventLoop) -> SharedOutput? {
        if let output = sharedOutputs[kind.rawValue] {
            return output.loop === loop ? output : nil
        }
        let output = SharedOutput(loop: loop)
        sharedOutputs[kind.rawValue] = output
        return output
    }

    /// Connections in shared outputs (the rest get broadcasts one by one).
    var sharedOutputMembers: Int { sharedOutputs.reduce(0) { $0 + ($1?.memberCount ?? 0) } }

    /// Adds a local connection to a group. Returns whether the group had no member here before, or nil when the
    /// connection isn't here.
    func addToGroup(_ connectionId: String, _ group: String) -> Bool? {
        guard connections[connectionId] != nil else { return nil }
        let key = ExactName(group)
        groupsOf[connectionId, default: []].insert(key)
        let inserted = groupMembers[key, default: []].insert(connectionId).inserted
        return inserted && groupMembers[key]!.count == 1
    }

    /// Removes a local connection from a group. Returns whether the group has no member here any more, or nil when
    /// the connection isn't here.
    func removeFromGroup(_ connectionId: String, _ group: String) -> Bool? {
        guard connections[connectionId] != nil else { return nil }
        let key = ExactName(group)
        groupsOf[connectionId]?.remove(key)
        if groupsOf[connectionId]?.isEmpty == true { groupsOf[connectionId] = nil }
        return removeMember(connectionId, from: key)
    }

    private func removeMember(_ id: String, from group: ExactName) -> Bool {
        guard var set = groupMembers[group], set.remove(id) != nil else { return false }
        groupMembers[group] = set.isEmpty ? nil : set
        return set.isEmpty
    }

    /// Writes the message to every matching connection here, each at most once.
    func deliver(_ message: OutgoingMessage, to target: RouteTarget) {
        switch target {
        case .all:
            messagesDelivered &+= sendShared(message, excluding: []) + sendToAll(message, skipping: [])
        case .allExcept(let excluded):
            var skip: Set<Int> = []
            var skipShared: [TCPConnection] = []
            for id in excluded {
                switch places[id] {
                case .shared(let socket): skipShared.append(socket)
                case .listed(let slot): skip.insert(Int(slot))
                case nil: break
                }
            }
            messagesDelivered &+= sendShared(message, excluding: skipShared) + sendToAll(message, skipping: skip)
        case .connections(let ids):
            if ids.count == 1 {
                messagesDelivered &+= send(message, to: ids[0])
            } else {
                messagesDelivered &+= send(message, to: Set(ids))
            }
        case .groups(let groups, let except):
            if groups.count == 1 && except.isEmpty {
                messagesDelivered &+= send(message, to: groupMembers[ExactName(groups[0])] ?? [])
                return
            }
            var ids = Set<String>()
            for g in groups { ids.formUnion(groupMembers[ExactName(g)] ?? []) }
            for id in except { ids.remove(id) }
            messagesDelivered &+= send(message, to: ids)
        case .users(let users):
            var ids = Set<String>()
            for u in users { ids.formUnion(userConnections[ExactName(u)] ?? []) }
            messagesDelivered &+= send(message, to: ids)
        }
    }

    /// Appends the message's frame to each shared output with members (each protocol's encoding made once);
    /// returns how many connections it goes to.
    private func sendShared(_ message: OutgoingMessage, excluding: [TCPConnection]) -> UInt64 {
        var sent: UInt64 = 0
        for kind in HubProtocolKind.allCases {
            guard let output = sharedOutputs[kind.rawValue], output.memberCount > 0 else { continue }
            if excluding.isEmpty {
                output.append(message.webSocketFrame(kind))
                sent &+= UInt64(output.memberCount)
            } else {
                let skipped = excluding.reduce(0) { $0 + (output.contains($1) ? 1 : 0) }
                guard output.memberCount > skipped else { continue }
                output.append(message.webSocketFrame(kind), excluding: excluding)
                sent &+= UInt64(output.memberCount - skipped)
            }
        }
        return sent
    }

    /// Sends to every connection here but those at the `skipping` slots; returns how many got it. Walks a copy
    /// of the contiguous list in place: no reference counting per recipient (the copy keeps them all alive, and a
    /// connection that leaves during the pass changes only the original).
    private func sendToAll(_ message: OutgoingMessage, skipping: Set<Int>) -> UInt64 {
        let snapshot = ordered
        return snapshot.withUnsafeBufferPointer { all in
            if skipping.isEmpty {
                for i in all.indices { all[i].sendMessage(message) }
                return UInt64(all.count)
            }
            var sent: UInt64 = 0
            for i in all.indices where !skipping.contains(i) {
                all[i].sendMessage(message)
                sent &+= 1
            }
            return sent
        }
    }

    /// Sends to the connection `id` if it is here; returns how many got it (0 or 1).
    private func send(_ message: OutgoingMessage, to id: String) -> UInt64 {
        guard let connection = connections[id] else { return 0 }
        connection.sendMessage(message)
        return 1
    }

    /// Sends to those of `ids` that are here; returns how many got it.
    private func send(_ message: OutgoingMessage, to ids: Set<String>) -> UInt64 {
        var sent: UInt64 = 0
        for id in ids { sent &+= send(message, to: id) }
        return sent
    }
}
