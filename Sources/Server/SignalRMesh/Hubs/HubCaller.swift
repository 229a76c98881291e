/// What a hub method sees of its caller and the hub (ASP.NET Core's `Hub.Context`, `Clients`, `Groups`).
/// A value; thread-safe, so it can be kept by tasks the method starts.
public struct HubCaller: Sendable {
    /// The caller's connection id.
    public let connectionId: String
    /// The caller's user id (from its token, see ``UserIdProvider``), or nil when anonymous.
    public let userId: String?
    /// The claims of the caller's token, if it sent a valid one.
    public let claims: JWTClaims?
    /// Storage for the connection's lifetime.
    public let items: ConnectionItems
    /// Targets, mesh-wide, including the caller-relative ones.
    public let clients: HubCallerClients
    /// Group membership of any connection.
    public let groups: HubGroups
    let handle: ConnectionHandle
    /// Who is online in the hub, and the caller's own entry.
    public var presence: HubPresence { HubPresence(sender: groups.sender, connectionId: connectionId) }

    /// Closes the caller's connection (it is told not to reconnect).
    public func abort() { handle.abort() }
}
