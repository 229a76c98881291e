import Foundation
import Mesh
import NetKit
import Testing

@testable import SignalRMesh

/// Reloading the peers file into a replica (SIGHUP, `--watch-peers`) and `--list-replicas`, without sockets: the
/// replica is built but not started, which is enough for its membership.
@Suite(.serialized) struct MembershipReloadTests {
    static let secret = "reload-test-secret-0123456789"

    /// A peers file with these replicas (ids a, b, c… get ports 17001+, 18001+).
    static func document(_ ids: [String], cluster: String = "reload", secret: String? = secret) -> String {
        let replicas = ids.map { id -> String in
            let n = Int(id.unicodeScalars.first!.value) - 96
            return "{\"id\":\"\(id)\",\"http\":\"127.0.0.1:\(17000 + n)\",\"mesh\":\"127.0.0.1:\(18000 + n)\"}"
        }
        let secretField = secret.map { ",\"secret\":\"\($0)\"" } ?? ""
        return "{\"cluster\":\"\(cluster)\"\(secretField),\"replicas\":[\(replicas.joined(separator: ","))]}"
    }

    final class Fixture {
        let dir: URL
        let path: String
        let replica: ReplicaServer
        let reloader: MembershipReloader

        init(_ ids: [String], environment: [String: String] = [:]) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            path = dir.appendingPathComponent("peers.json").path
            try MembershipReloadTests.document(ids).write(toFile: path, atomically: true, encoding: .utf8)
            let config = try MeshConfig.load(path: path, environment: environment)
            replica = try ReplicaServer(config: config, options: ServerOptions(nodeId: "a"))
            reloader = MembershipReloader(replica: replica, path: path, environment: environment, logger: Logger(label: "test"))
        }

        func write(_ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        var ids: [String] { replica.config.replicas.map(\.id) }
        var meshPeers: [String] {
            var out: [String] = []
            replica.runOnLoop { out = self.replica.mesh.snapshot().peers.map(\.id) }
            return out
        }

        deinit {
            reloader.stopWatching()
            replica.stopLoop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    @Test func reloadGrowsShrinksAndRefusesWithOneLine() throws {
        let f = try Fixture(["a", "b"])
        try f.write(Self.document(["a", "b", "c", "d"]))
        var line = f.reloader.reload(trigger: "SIGHUP")
        #expect(line.hasSuffix("reloaded (SIGHUP): added c, d; removed none; moved none; replicas now a, b, c, d"), "\(line)")
        #expect(f.ids == ["a", "b", "c", "d"] && f.meshPeers == ["b", "c", "d"])

        let refusals: [(String, String)] = [
            ("{\"cluster\":", "invalid JSON"),
            (Self.document(["a", "b"], cluster: "other"), "the cluster name changed"),
            (Self.document(["b", "c"]), "this replica (a) is not in the file any more"),
            (Self.document(["a", "b"], secret: "another-secret-0123456789"), "the mesh secret changed"),
            (Self.document(["a", "b"], secret: nil), "missing \"secret\""),
        ]
        for (text, reason) in refusals {
            try f.write(text)
            line = f.reloader.reload(trigger: "SIGHUP")
            #expect(line.contains("refused (SIGHUP): ") && line.contains(reason), "\(line)")
            #expect(line.hasSuffix("keeping the current membership (a, b, c, d)") && !line.contains("\n"), "\(line)")
            #expect(f.ids == ["a", "b", "c", "d"] && f.meshPeers == ["b", "c", "d"])
        }
        try FileManager.default.removeItem(atPath: f.path)
        line = f.reloader.reload(trigger: "SIGHUP")
        #expect(line.contains("cannot read \(f.path): no such file"), "\(line)")

        try f.write(Self.document(["a", "c"]))
        line = f.reloader.reload(trigger: "SIGHUP")
        #expect(line.hasSuffix("added none; removed b, d; moved none; replicas now a, c"), "\(line)")
        #expect(f.meshPeers == ["c"])
        line = f.reloader.reload(trigger: "SIGHUP")
        #expect(line.hasSuffix("membership unchanged (a, c)"), "\(line)")
    }

    /// MESH_SECRET is taken from the environment the replica started with, at every reload.
    @Test func theSecretFromTheEnvironmentStillWins() throws {
        let f = try Fixture(["a", "b"], environment: ["MESH_SECRET": "from-the-environment-0123456789"])
        try f.write(Self.document(["a", "b", "c"], secret: "a-file-secret-that-differs-0123"))
        let line = f.reloader.reload(trigger: "SIGHUP")
        #expect(line.contains("added c"), "\(line)")
    }

    @Test func watchingReloadsOnceTheFileChanged() throws {
        let f = try Fixture(["a", "b"])
        f.reloader.watch(intervalSeconds: 0.02)
        try f.write(Self.document(["a", "b", "c"]))
        #expect(waitFor { f.ids == ["a", "b", "c"] })
        try f.write("{ half a file")
        try f.write(Self.document(["a", "c"]))
        #expect(waitFor { f.ids == ["a", "c"] })
        #expect(f.meshPeers == ["c"])
    }

    @Test func listingPrintsIdHttpMesh() throws {
        let config = try MeshConfig.parse(Data(Self.document(["a", "b"]).utf8), environment: [:])
        #expect(try ReplicaListing.render(config) == "a 127.0.0.1:17001 127.0.0.1:18001\nb 127.0.0.1:17002 127.0.0.1:18002\n")
        for id in ["a b", "x/y", "tab\there", ".."] {
            var odd = config
            odd.replicas[1].id = id
            #expect(throws: UsageError.self) { try ReplicaListing.render(odd) }
        }
        #expect((try? ServerCommandLine.parse(["--list-replicas", "--peers", "/x.json"])) == .listReplicas(peersPath: "/x.json"))
        #expect((try? ServerCommandLine.parse(["--list-replicas"])) == .listReplicas(peersPath: "peers.json"))
        guard case .run(let c) = try ServerCommandLine.parse(["--node", "a", "--watch-peers"]) else {
            Issue.record("not a run")
            return
        }
        #expect(c.watchPeers)
        #expect(ServerCommandLine.usage.contains("--watch-peers") && ServerCommandLine.usage.contains("--list-replicas"))
    }

    /// Polls `condition` every 10 ms for up to `timeout` seconds.
    func waitFor(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}
