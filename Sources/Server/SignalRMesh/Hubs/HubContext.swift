/// A hub's clients and groups from outside its methods: a timer, an HTTP handler, a background task
/// (ASP.NET Core's `IHubContext<THub>`). Get one with ``ReplicaServer/hubContext(_:)``. Thread-safe.
public struct HubContext: Sendable {
    /// Every target of the hub, mesh-wide.
    public let clients: HubClients
    /// Group membership of any connection.
    public let groups: HubGroups

    init(clients: HubClients, groups: HubGroups) {
        self.clients = clients
        self.groups = groups
    }
}
