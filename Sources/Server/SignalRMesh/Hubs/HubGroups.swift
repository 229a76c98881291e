/// Group membership of any connection on any replica (ASP.NET Core's `IGroupManager`). Thread-safe.
public struct HubGroups: Sendable {
    let sender: HubSender

    /// Adds a connection to a group. Returns once the membership holds mesh-wide: a message sent to the group
    /// afterwards, from any replica, reaches the connection.
    ///
    /// - Throws: ``HubException`` when the connection exists nowhere, its replica can't be reached (or dies
    ///   meanwhile), or the replicas don't confirm in time. Every wait is bounded.
    public func add(_ connectionId: String, to group: String) async throws {
        try await sender.changeGroup(connectionId: connectionId, group: group, add: true)
    }

    /// Removes a connection from a group; the connection gets no message for it once this returns.
    ///
    /// - Throws: ``HubException`` as ``add(_:to:)``.
    public func remove(_ connectionId: String, from group: String) async throws {
        try await sender.changeGroup(connectionId: connectionId, group: group, add: false)
    }
}
