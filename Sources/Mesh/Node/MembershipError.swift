/// Why ``MeshNode/updateMembership(_:)`` refused a config: the node keeps the membership it has. Rendered as one line.
public enum MembershipError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The config does not pass ``MeshConfig/validateForNode(_:)`` (this replica missing from it, a weak secret).
    case invalid(MeshConfigError)
    /// The cluster name changed: every link is bound to it.
    case clusterChanged(from: String, to: String)
    /// The secret changed (in the file, or MESH_SECRET).
    case secretChanged
    /// The `encryption` setting changed.
    case encryptionChanged(from: EncryptionSetting, to: EncryptionSetting)
    /// This replica's own entry changed (`field` is `mesh` or `http`): its ports are bound.
    case ownAddressChanged(field: String, from: String, to: String)
    /// The node is leaving or stopped.
    case notRunning

    public var description: String {
        switch self {
        case .invalid(.unknownNode(let id, let known)):
            return "this replica (\(id)) is not in the file any more (it has: \(known.joined(separator: ", "))); "
                + "stop it instead (SIGTERM)"
        case .invalid(let error):
            return "\(error)"
        case .clusterChanged(let from, let to):
            return "the cluster name changed (\"\(from)\" to \"\(to)\"): restart every replica to apply it"
        case .secretChanged:
            return "the mesh secret changed: restart every replica to apply it (links keep the secret they were made with)"
        case .encryptionChanged(let from, let to):
            return "\"encryption\" changed (\(from.rawValue) to \(to.rawValue)): restart the replicas to apply it"
        case .ownAddressChanged(let field, let from, let to):
            return "this replica's own \(field) address changed (\(from) to \(to)): restart it to apply that"
        case .notRunning:
            return "the mesh node is shutting down"
        }
    }
}
