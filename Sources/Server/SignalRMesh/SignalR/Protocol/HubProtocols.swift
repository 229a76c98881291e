/// The hub protocols a replica offers, looked up by the handshake's `protocol` (case-insensitively, as ASP.NET
/// Core does).
enum HubProtocols {
    static let json: any HubProtocol = JSONHubProtocol()
    static let messagePack: any HubProtocol = MessagePackHubProtocol()
    static let all: [any HubProtocol] = [json, messagePack]

    static func named(_ name: String) -> (any HubProtocol)? {
        let lower = name.lowercased()
        return all.first { $0.name == lower }
    }

    static func of(kind: HubProtocolKind) -> any HubProtocol {
        all.first { $0.kind == kind }!
    }
}
