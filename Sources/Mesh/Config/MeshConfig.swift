import Foundation

/// The cluster description shared by every replica (peers.json).
///
/// ```json
/// {"cluster":"demo","secret":"…","encryption":"auto",
///  "replicas":[{"id":"a","http":"127.0.0.1:5001","mesh":"127.0.0.1:6001"}]}
/// ```
/// Parsing happens once at start-up, so it uses Foundation's JSON parser rather than a hand-written one.
public struct MeshConfig: Sendable, Equatable {
    public var cluster: String
    /// The shared secret (MESH_SECRET wins over the file). Never empty after `load`.
    public var secret: String
    public var replicas: [Replica]
    /// Whether links are encrypted (default ``EncryptionSetting/auto``).
    public var encryption: EncryptionSetting

    /// Minimum secret length for a node reachable from other machines.
    public static let minimumSecretBytes = 16

    public init(cluster: String, secret: String, replicas: [Replica], encryption: EncryptionSetting = .auto) {
        self.cluster = cluster
        self.secret = secret
        self.replicas = replicas
        self.encryption = encryption
    }

    public func replica(_ id: String) -> Replica? { replicas.first { $0.id == id } }

    /// Reads and validates peers.json. `environment` supplies `MESH_SECRET` (pass `ProcessInfo.processInfo.environment`).
    public static func load(path: String, environment: [String: String]) throws(MeshConfigError) -> MeshConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? "\(error.localizedDescription)"
            throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? reason : "no such file")
        }
        return try parse(data, environment: environment)
    }

    /// Validates the JSON text of peers.json (see ``load(path:environment:)``).
    public static func parse(_ data: Data, environment: [String: String]) throws(MeshConfigError) -> MeshConfig {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data)
        } catch {
            let ns = error as NSError
            let reason = ns.userInfo[NSDebugDescriptionErrorKey] as? String ?? ns.localizedDescription
            throw .badJSON(reason: reason)
        }
        guard let object = root as? [String: Any] else { throw .wrongType(field: "(top level)", expected: "an object") }

        let cluster = try requiredString(object, "cluster", path: "cluster")
        // Cluster and ids travel in HELLO, which must fit the 1 KiB pre-authentication frame limit.
        guard cluster.utf8.count <= 255 else { throw .wrongType(field: "cluster", expected: "at most 255 bytes") }
        let fileSecret = try optionalString(object, "secret", path: "secret")
        let secret: String
        if let env = environment["MESH_SECRET"], !env.isEmpty {
            secret = env
        } else if let fileSecret, !fileSecret.isEmpty {
            secret = fileSecret
        } else {
            throw .missingSecret
        }

        guard let rawReplicas = object["replicas"] else { throw .missingField("replicas") }
        guard let list = rawReplicas as? [Any] else { throw .wrongType(field: "replicas", expected: "an array") }
        guard !list.isEmpty else { throw .missingField("replicas") }

        var replicas = [Replica]()
        var ids = Set<String>()
        var addressOwner = [HostPort: String]()
        for (index, item) in list.enumerated() {
            let base = "replicas[\(index)]"
            guard let entry = item as? [String: Any] else { throw .wrongType(field: base, expected: "an object") }
            let id = try requiredString(entry, "id", path: "\(base).id")
            guard id.utf8.count <= 255 else { throw .wrongType(field: "\(base).id", expected: "at most 255 bytes") }
            let http = try address(entry, "http", path: "\(base).http")
            let mesh = try address(entry, "mesh", path: "\(base).mesh")
            guard ids.insert(id).inserted else { throw .duplicateId(id) }
            for (field, hostPort) in [("\(base).http", http), ("\(base).mesh", mesh)] {
                if let first = addressOwner[hostPort.normalized] {
                    throw .duplicateAddress(address: hostPort.description, first: first, second: field)
                }
                addressOwner[hostPort.normalized] = field
            }
            replicas.append(Replica(id: id, http: http, mesh: mesh))
        }
        var encryption = EncryptionSetting.auto
        if let text = try optionalString(object, "encryption", path: "encryption") {
            guard let setting = EncryptionSetting(rawValue: text) else {
                throw .wrongType(field: "encryption", expected: "\"auto\", \"on\" or \"off\"")
            }
            encryption = setting
        }
        return MeshConfig(cluster: cluster, secret: secret, replicas: replicas, encryption: encryption)
    }

    /// Checks that `id` is one of the replicas and that its secret is strong enough for where it listens.
    ///
    /// A loopback-only mesh can only be reached from this machine, so any secret will do there (the demo
    /// runs that way). Anything else must have a real secret: ≥ 16 bytes and not the published demo one.
    public func validateForNode(_ id: String) throws(MeshConfigError) {
        guard let me = replica(id) else { throw .unknownNode(id, known: replicas.map(\.id)) }
        // DATA frames name destinations with a one-byte length (``parse(_:environment:)`` checks this for files).
        for (index, replica) in replicas.enumerated() where replica.id.utf8.count > 255 {
            throw .wrongType(field: "replicas[\(index)].id", expected: "at most 255 bytes")
        }
        if secret.isEmpty { throw .missingSecret }
        guard !me.mesh.isLoopback else { return }
        if secret.utf8.count < MeshConfig.minimumSecretBytes {
            throw .weakSecret(
                node: id, address: me.mesh.description,
                reason: "secret must be at least \(MeshConfig.minimumSecretBytes) bytes (set MESH_SECRET)")
        }
        if secret == DemoSecret.value {
            throw .weakSecret(
                node: id, address: me.mesh.description,
                reason: "refusing the demo secret (set MESH_SECRET to a private value)")
        }
    }

    // MARK: - Field helpers

    private static func requiredString(_ object: [String: Any], _ key: String, path: String) throws(MeshConfigError) -> String {
        guard let value = try optionalString(object, key, path: path), !value.isEmpty else { throw .missingField(path) }
        return value
    }

    private static func optionalString(_ object: [String: Any], _ key: String, path: String) throws(MeshConfigError) -> String? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let value = raw as? String else { throw .wrongType(field: path, expected: "a string") }
        return value
    }

    private static func address(_ object: [String: Any], _ key: String, path: String) throws(MeshConfigError) -> HostPort {
        let text = try requiredString(object, key, path: path)
        do {
            return try HostPort.parse(text)
        } catch {
            throw .badAddress(field: path, value: text, reason: error.reason)
        }
    }
}
