/// What ``MeshNode/updateMembership(_:)`` changed, for the layer above and for one log line.
///
/// Ids are sorted. This replica is never in any list.
public struct MembershipChange: Sendable, Equatable {
    /// Replicas new in the config: dialed from now on (and accepted when they dial).
    public var added: [String]
    /// Replicas no longer in the config: their link was closed with LEAVING, their messages and state forgotten, and
    /// their dials are refused like any unknown id's.
    public var removed: [String]
    /// Replicas whose mesh address changed: their link (if any) was closed and the new address is dialed at once.
    public var readdressed: [String]
    /// Replicas whose HTTP address changed (the mesh does nothing with it; the layer above may).
    public var httpChanged: [String]
    /// Every replica of the config now in force, this one included, in the config's order.
    public var replicas: [String]

    public init(
        added: [String] = [], removed: [String] = [], readdressed: [String] = [], httpChanged: [String] = [],
        replicas: [String] = []
    ) {
        self.added = added
        self.removed = removed
        self.readdressed = readdressed
        self.httpChanged = httpChanged
        self.replicas = replicas
    }

    /// Nothing changed that the mesh or the layer above acts on.
    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && readdressed.isEmpty && httpChanged.isEmpty }

    /// `added d, e; removed none; moved none` (moved: mesh or HTTP address changed).
    public var summary: String {
        func list(_ ids: [String]) -> String { ids.isEmpty ? "none" : ids.joined(separator: ", ") }
        let moved = Set(readdressed).union(httpChanged).sorted()
        return "added \(list(added)); removed \(list(removed)); moved \(list(moved))"
    }
}
