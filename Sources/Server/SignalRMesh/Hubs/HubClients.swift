/// Every target a hub can send to, mesh-wide (ASP.NET Core's `IHubClients`): from a hub method (see also
/// ``HubCallerClients``) or from outside one (``HubContext``). Thread-safe.
public struct HubClients: Sendable {
    let sender: HubSender

    private func proxy(_ target: RouteTarget) -> ClientProxy { ClientProxy(sender: sender, target: target) }

    /// Every connection of the hub, on every replica.
    public var all: ClientProxy { proxy(.all) }
    /// Every connection but these.
    public func allExcept(_ connectionIds: [String]) -> ClientProxy { proxy(.allExcept(connectionIds)) }
    /// One connection, wherever it is: send to it, or invoke a method on it and await the result.
    public func client(_ connectionId: String) -> SingleClientProxy {
        SingleClientProxy(sender: sender, connectionId: connectionId)
    }
    /// These connections.
    public func clients(_ connectionIds: [String]) -> ClientProxy { proxy(.connections(connectionIds)) }
    /// Every member of a group.
    public func group(_ name: String) -> ClientProxy { proxy(.groups([name], except: [])) }
    /// Every member of any of these groups, once each.
    public func groups(_ names: [String]) -> ClientProxy { proxy(.groups(names, except: [])) }
    /// Every member of a group but these connections.
    public func groupExcept(_ name: String, _ excludedConnectionIds: [String]) -> ClientProxy {
        proxy(.groups([name], except: excludedConnectionIds))
    }
    /// Every connection of a user (see ``UserIdProvider``).
    public func user(_ userId: String) -> ClientProxy { proxy(.users([userId])) }
    /// Every connection of these users.
    public func users(_ userIds: [String]) -> ClientProxy { proxy(.users(userIds)) }
}
