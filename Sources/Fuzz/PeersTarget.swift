import Foundation

@testable import Mesh

/// `peers`: peers.json parsing and validation (`MeshConfig.parse`, `validateForNode`), and `host:port` parsing.
///
/// Checks:
/// - an accepted config has replicas, unique ids of at most 255 bytes, and no socket address used twice;
/// - `validateForNode` knows every replica and refuses an unknown id;
/// - an accepted config, written back as JSON, parses to an equal config;
/// - an accepted `host:port` has a plain literal host and prints as text that parses to the same address.
///
/// Flags: bit 0 = `MESH_SECRET` is set in the environment.
enum PeersTarget {
    static let envSecret = "env-secret-0123456789abcdef"

    static func run(_ input: FuzzInput) {
        let environment = input.flag(0) ? ["MESH_SECRET": envSecret] : [:]
        if let config = try? MeshConfig.parse(Data(input.payload), environment: environment) {
            checkConfig(config, environment: environment)
        }
        // The same bytes as one address, for the host:port parser alone.
        if let text = String(validating: input.payload, as: UTF8.self), let address = try? HostPort.parse(text) {
            checkAddress(address)
        }
    }

    static func checkConfig(_ config: MeshConfig, environment: [String: String]) {
        check(!config.replicas.isEmpty, "accepted a config without replicas")
        check(!config.cluster.isEmpty && !config.secret.isEmpty, "accepted an empty cluster or secret")
        if let env = environment["MESH_SECRET"] { check(config.secret == env, "MESH_SECRET did not win") }
        var ids = Set<String>()
        var addresses = Set<HostPort>()
        for replica in config.replicas {
            check(!replica.id.isEmpty && replica.id.utf8.count <= 255, "accepted replica id \(replica.id.debugDescription)")
            check(ids.insert(replica.id).inserted, "accepted duplicate id \(replica.id)")
            for address in [replica.http, replica.mesh] {
                check(addresses.insert(address.normalized).inserted, "accepted address \(address) twice")
                checkAddress(address)
            }
            do {
                try config.validateForNode(replica.id)
            } catch .unknownNode {
                fuzzFailure("validateForNode does not know \(replica.id)")
            } catch {
                check(!replica.mesh.isLoopback, "a loopback replica was refused: \(error)")
            }
        }
        let unknown = "not-" + config.replicas.map(\.id).joined()
        do {
            try config.validateForNode(unknown)
            fuzzFailure("validateForNode accepted an unknown id")
        } catch {
            if case .unknownNode = error {} else { fuzzFailure("unknown id refused with \(error)") }
        }

        // Written back out with Foundation and parsed again.
        let object: [String: Any] = [
            "cluster": config.cluster, "secret": config.secret,
            "replicas": config.replicas.map { ["id": $0.id, "http": $0.http.description, "mesh": $0.mesh.description] },
        ]
        do {
            let data = try JSONSerialization.data(withJSONObject: object)
            let again = try MeshConfig.parse(data, environment: environment)
            check(again == config, "round trip changed the config:\n  \(config)\n  \(again)")
        } catch {
            fuzzFailure("an accepted config, written back, does not parse: \(error)\n  \(config)")
        }
    }

    static func checkAddress(_ address: HostPort) {
        check(address.port != 0, "accepted port 0")
        // What reaches the socket layer must be the literal itself: nothing a C string would cut or a log would show
        // differently (a NUL, a scope, spaces).
        let allowed = address.host == "localhost" || address.host.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F")) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
        }
        check(allowed, "accepted host \(address.host.debugDescription)")
        do {
            let again = try HostPort.parse(address.description)
            check(again == address, "\(address) reads back as \(again)")
        } catch {
            fuzzFailure("\(address) does not read back: \(error)")
        }
        _ = address.isLoopback
        _ = address.numericHost
    }
}
