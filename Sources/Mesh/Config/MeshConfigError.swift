/// A configuration problem, rendered as one line (the caller prints `error: <description>` and exits 2).
public enum MeshConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case badJSON(reason: String)
    /// `field` is a path such as `cluster` or `replicas[1].mesh`.
    case missingField(String)
    case wrongType(field: String, expected: String)
    case badAddress(field: String, value: String, reason: String)
    case duplicateId(String)
    case duplicateAddress(address: String, first: String, second: String)
    case unknownNode(String, known: [String])
    case missingSecret
    case weakSecret(node: String, address: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .badJSON(let reason):
            return "peers.json: invalid JSON: \(reason)"
        case .missingField(let field):
            return "peers.json: missing or empty \"\(field)\""
        case .wrongType(let field, let expected):
            return "peers.json: \"\(field)\" must be \(expected)"
        case .badAddress(let field, let value, let reason):
            return "peers.json: \(field) \"\(value)\": \(reason)"
        case .duplicateId(let id):
            return "peers.json: duplicate replica id \"\(id)\""
        case .duplicateAddress(let address, let first, let second):
            return "peers.json: address \(address) is used twice (\(first) and \(second))"
        case .unknownNode(let id, let known):
            return "unknown --node \"\(id)\" (peers.json has: \(known.joined(separator: ", ")))"
        case .missingSecret:
            return "peers.json: missing \"secret\" (or set MESH_SECRET)"
        case .weakSecret(let node, let address, let reason):
            return "node \"\(node)\" has a non-loopback mesh address \(address): \(reason)"
        }
    }
}
