/// The targets of a hub method, with those relative to its caller (ASP.NET Core's `IHubCallerClients`).
public struct HubCallerClients: Sendable {
    let base: HubClients
    let callerId: String

    private func proxy(_ target: RouteTarget) -> ClientProxy { ClientProxy(sender: base.sender, target: target) }

    /// The connection that called the method: send to it, or invoke a method on it and await the result.
    public var caller: SingleClientProxy { SingleClientProxy(sender: base.sender, connectionId: callerId) }
    /// Every connection but the caller.
    public var others: ClientProxy { proxy(.allExcept([callerId])) }
    /// Every member of a group but the caller.
    public func othersInGroup(_ name: String) -> ClientProxy { proxy(.groups([name], except: [callerId])) }

    public var all: ClientProxy { base.all }
    public func allExcept(_ connectionIds: [String]) -> ClientProxy { base.allExcept(connectionIds) }
    public func client(_ connectionId: String) -> SingleClientProxy { base.client(connectionId) }
    public func clients(_ connectionIds: [String]) -> ClientProxy { base.clients(connectionIds) }
    public func group(_ name: String) -> ClientProxy { base.group(name) }
    public func groups(_ names: [String]) -> ClientProxy { base.groups(names) }
    public func groupExcept(_ name: String, _ excludedConnectionIds: [String]) -> ClientProxy {
        base.groupExcept(name, excludedConnectionIds)
    }
    public func user(_ userId: String) -> ClientProxy { base.user(userId) }
    public func users(_ userIds: [String]) -> ClientProxy { base.users(userIds) }
}
