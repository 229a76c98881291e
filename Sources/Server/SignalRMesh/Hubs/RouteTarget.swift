/// Whom a hub message is for: the `Clients.…` targets of ASP.NET Core, mesh-wide.
enum RouteTarget: Equatable, Sendable {
    /// Every connection of the hub.
    case all
    /// Every connection but these.
    case allExcept([String])
    /// These connections.
    case connections([String])
    /// Every member of these groups (each connection once), but the excluded connections.
    case groups([String], except: [String])
    /// Every connection of these users.
    case users([String])
}
