import NetKit

/// Connection ids that say which replica owns them, so a message for one connection goes to one replica.
///
/// An id is 22 base64url characters, like ASP.NET Core's: a 6-character tag of the owning replica (from SHA-256 of
/// its id) and 16 random ones (96 bits). Clients treat ids as opaque, so nothing they see changes.
struct ConnectionOwners: Sendable {
    static let tagLength = 6
    let replicaId: String
    let prefix: String
    private let byTag: [String: String]

    /// - Parameter replicas: every replica of the cluster (this one included).
    init(replicaId: String, replicas: [String]) {
        self.replicaId = replicaId
        var byTag: [String: String] = [:]
        for id in replicas { byTag[Self.tag(for: id)] = id }
        self.byTag = byTag
        self.prefix = Self.tag(for: replicaId)
    }

    static func tag(for replica: String) -> String {
        let digest = SHA256.hash(Array(replica.utf8))
        return String(Base64URL.encode(Array(digest.prefix(6))).prefix(tagLength))
    }

    /// The replica that owns `connectionId`, if the id has a known tag.
    func owner(of connectionId: String) -> String? {
        guard connectionId.utf8.count == 22 else { return nil }
        return byTag[String(connectionId.prefix(Self.tagLength))]
    }

    /// A fresh id owned by this replica.
    func newConnectionId() -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        for _ in 0..<2 { withUnsafeBytes(of: rng.next()) { bytes.append(contentsOf: $0) } }
        return prefix + String(Base64URL.encode(bytes).prefix(22 - Self.tagLength))
    }
}
