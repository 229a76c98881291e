import Foundation
import Testing

@testable import Mesh

private let goodJSON = """
    {"cluster":"demo","secret":"0123456789abcdef-secret","replicas":[
     {"id":"a","http":"127.0.0.1:5001","mesh":"127.0.0.1:6001"},
     {"id":"b","http":"localhost:5002","mesh":"[::1]:6002"},
     {"id":"c","http":"127.0.0.1:5003","mesh":"127.0.0.1:6003"}]}
    """

private func parse(_ json: String, env: [String: String] = [:]) throws(MeshConfigError) -> MeshConfig {
    try MeshConfig.parse(Data(json.utf8), environment: env)
}

private func errorText(_ json: String, env: [String: String] = [:]) -> String? {
    do {
        _ = try parse(json, env: env)
        return nil
    } catch {
        return error.description
    }
}

private func replicas(_ list: String) -> String {
    "{\"cluster\":\"demo\",\"secret\":\"0123456789abcdef-secret\",\"replicas\":[\(list)]}"
}

@Suite struct MeshConfigTests {
    @Test func parsesGoodFile() throws {
        let config = try parse(goodJSON)
        #expect(config.cluster == "demo")
        #expect(config.secret == "0123456789abcdef-secret")
        #expect(config.replicas.map(\.id) == ["a", "b", "c"])
        #expect(config.replicas[0].http == HostPort(host: "127.0.0.1", port: 5001))
        #expect(config.replicas[1].mesh == HostPort(host: "::1", port: 6002))
        #expect(config.replicas[1].mesh.description == "[::1]:6002")
        #expect(config.replicas[1].http.numericHost == "127.0.0.1")
        try config.validateForNode("b")
    }

    @Test func loadsFromFileAndReportsUnreadable() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meshcfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("peers.json").path
        try Data(goodJSON.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try MeshConfig.load(path: path, environment: [:]).replicas.count == 3)

        let missing = dir.appendingPathComponent("nope.json").path
        #expect(throws: MeshConfigError.unreadable(path: missing, reason: "no such file")) {
            try MeshConfig.load(path: missing, environment: [:])
        }
        #expect(
            MeshConfigError.unreadable(path: missing, reason: "no such file").description
                == "cannot read \(missing): no such file")
    }

    @Test func badJSONCarriesParserReason() {
        let text = errorText("{\"cluster\": ")
        #expect(text?.hasPrefix("peers.json: invalid JSON: ") == true)
        #expect((text?.count ?? 0) > "peers.json: invalid JSON: ".count)
        #expect(errorText("[1,2]") == "peers.json: \"(top level)\" must be an object")
    }

    @Test func missingAndEmptyFields() {
        #expect(errorText("{\"secret\":\"x\",\"replicas\":[]}") == "peers.json: missing or empty \"cluster\"")
        #expect(errorText("{\"cluster\":\"\",\"secret\":\"x\",\"replicas\":[]}") == "peers.json: missing or empty \"cluster\"")
        #expect(errorText("{\"cluster\":\"d\",\"secret\":\"x\"}") == "peers.json: missing or empty \"replicas\"")
        #expect(errorText("{\"cluster\":\"d\",\"secret\":\"x\",\"replicas\":[]}") == "peers.json: missing or empty \"replicas\"")
        #expect(
            errorText(replicas("{\"http\":\"127.0.0.1:1\",\"mesh\":\"127.0.0.1:2\"}"))
                == "peers.json: missing or empty \"replicas[0].id\"")
        #expect(
            errorText(replicas("{\"id\":\"a\",\"http\":\"127.0.0.1:1\",\"mesh\":\"127.0.0.1:2\"},{\"id\":\"b\",\"http\":\"127.0.0.1:3\"}"))
                == "peers.json: missing or empty \"replicas[1].mesh\"")
        #expect(
            errorText(replicas("{\"id\":\"a\",\"http\":\"\",\"mesh\":\"127.0.0.1:2\"}"))
                == "peers.json: missing or empty \"replicas[0].http\"")
    }

    @Test func wrongTypes() {
        #expect(errorText("{\"cluster\":5,\"secret\":\"x\",\"replicas\":[]}") == "peers.json: \"cluster\" must be a string")
        #expect(errorText("{\"cluster\":\"d\",\"secret\":\"x\",\"replicas\":{}}") == "peers.json: \"replicas\" must be an array")
        #expect(errorText(replicas("3")) == "peers.json: \"replicas[0]\" must be an object")
        #expect(
            errorText(replicas("{\"id\":\"a\",\"http\":5001,\"mesh\":\"127.0.0.1:2\"}"))
                == "peers.json: \"replicas[0].http\" must be a string")
        let longCluster = String(repeating: "c", count: 256)
        #expect(
            errorText("{\"cluster\":\"\(longCluster)\",\"secret\":\"x\",\"replicas\":[]}")
                == "peers.json: \"cluster\" must be at most 255 bytes")
    }

    @Test func badAddresses() {
        func addressError(_ value: String) -> String? {
            errorText(replicas("{\"id\":\"a\",\"http\":\"127.0.0.1:5001\",\"mesh\":\"\(value)\"}"))
        }
        #expect(addressError("127.0.0.1") == "peers.json: replicas[0].mesh \"127.0.0.1\": expected host:port")
        #expect(addressError("127.0.0.1:0") == "peers.json: replicas[0].mesh \"127.0.0.1:0\": port must be 1-65535")
        #expect(addressError("127.0.0.1:65536") == "peers.json: replicas[0].mesh \"127.0.0.1:65536\": port must be 1-65535")
        #expect(addressError("127.0.0.1:http") == "peers.json: replicas[0].mesh \"127.0.0.1:http\": port must be 1-65535")
        #expect(addressError("127.0.0.1:") == "peers.json: replicas[0].mesh \"127.0.0.1:\": port must be 1-65535")
        #expect(addressError("127.0.0.1:-1") == "peers.json: replicas[0].mesh \"127.0.0.1:-1\": port must be 1-65535")
        #expect(
            addressError("example.com:1")
                == "peers.json: replicas[0].mesh \"example.com:1\": host must be an IPv4 literal, \"localhost\" or [IPv6]")
        #expect(addressError("256.1.1.1:1")?.hasSuffix("host must be an IPv4 literal, \"localhost\" or [IPv6]") == true)
        #expect(addressError("1.2.3:1")?.hasSuffix("host must be an IPv4 literal, \"localhost\" or [IPv6]") == true)
        #expect(addressError("[zz::1]:1")?.hasSuffix("host must be an IPv4 literal, \"localhost\" or [IPv6]") == true)
        #expect(addressError("::1:6001")?.hasSuffix("host must be an IPv4 literal, \"localhost\" or [IPv6]") == true)
        // Caught by the peers fuzz target (Tests/fuzz/corpus/peers/regress-ipv6-nul): inet_pton stopped at the NUL and read
        // ::1, so "[::1\u0000x]" passed as an address that differs from "[::1]" only as a key.
        #expect(addressError("[::1\\u0000x]:6001")?.hasSuffix("host must be an IPv4 literal, \"localhost\" or [IPv6]") == true)
        #expect(throws: HostPort.ParseError.badHost) { try HostPort.parse("[::1\u{0}x]:6001") }
        #expect(throws: HostPort.ParseError.badHost) { try HostPort.parse("[fe80::1%lo]:6001") }
        #expect((try? HostPort.parse("[::ffff:127.0.0.1]:1"))?.host == "::ffff:127.0.0.1")
        #expect(addressError("[::1]6001") == "peers.json: replicas[0].mesh \"[::1]6001\": expected host:port")
        #expect(addressError("[::1]:65535") == nil)
        #expect(addressError("0.0.0.0:1") == nil)
    }

    @Test func duplicateIdsAndAddresses() {
        #expect(
            errorText(
                replicas(
                    "{\"id\":\"a\",\"http\":\"127.0.0.1:1\",\"mesh\":\"127.0.0.1:2\"},{\"id\":\"a\",\"http\":\"127.0.0.1:3\",\"mesh\":\"127.0.0.1:4\"}"
                )) == "peers.json: duplicate replica id \"a\"")
        // Same address used as http by one replica and mesh by another.
        #expect(
            errorText(
                replicas(
                    "{\"id\":\"a\",\"http\":\"127.0.0.1:1\",\"mesh\":\"127.0.0.1:2\"},{\"id\":\"b\",\"http\":\"127.0.0.1:3\",\"mesh\":\"127.0.0.1:1\"}"
                ))
                == "peers.json: address 127.0.0.1:1 is used twice (replicas[0].http and replicas[1].mesh)")
        // Within one replica, and spelled as localhost.
        #expect(
            errorText(replicas("{\"id\":\"a\",\"http\":\"127.0.0.1:7\",\"mesh\":\"localhost:7\"}"))
                == "peers.json: address localhost:7 is used twice (replicas[0].http and replicas[0].mesh)")
    }

    @Test func unknownNode() throws {
        let config = try parse(goodJSON)
        #expect(throws: MeshConfigError.unknownNode("z", known: ["a", "b", "c"])) { try config.validateForNode("z") }
        #expect(MeshConfigError.unknownNode("z", known: ["a", "b", "c"]).description == "unknown --node \"z\" (peers.json has: a, b, c)")
    }

    @Test func secretFromEnvironmentWins() throws {
        #expect(try parse(goodJSON, env: ["MESH_SECRET": "from-env"]).secret == "from-env")
        #expect(try parse(goodJSON, env: ["MESH_SECRET": ""]).secret == "0123456789abcdef-secret")
        let noSecret = "{\"cluster\":\"d\",\"replicas\":[{\"id\":\"a\",\"http\":\"127.0.0.1:1\",\"mesh\":\"127.0.0.1:2\"}]}"
        #expect(try parse(noSecret, env: ["MESH_SECRET": "e"]).secret == "e")
        #expect(errorText(noSecret) == "peers.json: missing \"secret\" (or set MESH_SECRET)")
        #expect(errorText(noSecret.replacingOccurrences(of: "{\"cluster\":\"d\",", with: "{\"cluster\":\"d\",\"secret\":\"\",")) == "peers.json: missing \"secret\" (or set MESH_SECRET)")
    }

    @Test func loopbackAcceptsAnySecretButPublicAddressNeedsAStrongOne() throws {
        func config(mesh: String, secret: String) throws -> MeshConfig {
            try parse(
                "{\"cluster\":\"d\",\"secret\":\"\(secret)\",\"replicas\":[{\"id\":\"a\",\"http\":\"127.0.0.1:1\",\"mesh\":\"\(mesh)\"}]}"
            )
        }
        try config(mesh: "127.0.0.1:2", secret: "x").validateForNode("a")
        try config(mesh: "127.0.0.1:2", secret: DemoSecret.value).validateForNode("a")
        try config(mesh: "[::1]:2", secret: "short").validateForNode("a")
        try config(mesh: "localhost:2", secret: "short").validateForNode("a")

        for mesh in ["0.0.0.0:2", "[::]:2", "10.0.0.5:2"] {
            let weak = try config(mesh: mesh, secret: "short")
            #expect(throws: MeshConfigError.self) { try weak.validateForNode("a") }
            do {
                try weak.validateForNode("a")
            } catch {
                #expect(error.description.hasSuffix("secret must be at least 16 bytes (set MESH_SECRET)"))
                #expect(error.description.hasPrefix("node \"a\" has a non-loopback mesh address"))
            }
            let demo = try config(mesh: mesh, secret: DemoSecret.value)
            do {
                try demo.validateForNode("a")
                Issue.record("demo secret accepted on \(mesh)")
            } catch {
                #expect(error.description.hasSuffix("refusing the demo secret (set MESH_SECRET to a private value)"))
            }
            try config(mesh: mesh, secret: "a-long-private-secret-value").validateForNode("a")
        }
    }

    @Test func encryptionSetting() throws {
        #expect(try parse(goodJSON).encryption == .auto)
        for value in EncryptionSetting.allCases {
            let json = goodJSON.replacingOccurrences(of: "{\"cluster\"", with: "{\"encryption\":\"\(value.rawValue)\",\"cluster\"")
            #expect(try parse(json).encryption == value)
        }
        let bad = goodJSON.replacingOccurrences(of: "{\"cluster\"", with: "{\"encryption\":\"yes\",\"cluster\"")
        #expect(errorText(bad) == #"peers.json: "encryption" must be "auto", "on" or "off""#)
        let notString = goodJSON.replacingOccurrences(of: "{\"cluster\"", with: "{\"encryption\":true,\"cluster\"")
        #expect(errorText(notString) == #"peers.json: "encryption" must be a string"#)

        let loopback = HostPort(host: "127.0.0.1", port: 1)
        let remote = HostPort(host: "10.0.0.2", port: 1)
        #expect(!EncryptionSetting.auto.wantsEncryption(local: loopback, peer: loopback))
        #expect(EncryptionSetting.auto.wantsEncryption(local: loopback, peer: remote))
        #expect(EncryptionSetting.auto.wantsEncryption(local: remote, peer: loopback))
        #expect(EncryptionSetting.auto.wantsEncryption(local: HostPort(host: "0.0.0.0", port: 1), peer: loopback))
        #expect(EncryptionSetting.on.wantsEncryption(local: loopback, peer: loopback))
        #expect(!EncryptionSetting.off.wantsEncryption(local: remote, peer: remote))
    }

    @Test func hostPortLoopback() throws {
        #expect(try HostPort.parse("127.0.0.1:1").isLoopback)
        #expect(try HostPort.parse("127.8.9.10:1").isLoopback)
        #expect(try HostPort.parse("localhost:1").isLoopback)
        #expect(try HostPort.parse("[::1]:1").isLoopback)
        #expect(try !HostPort.parse("0.0.0.0:1").isLoopback)
        #expect(try !HostPort.parse("[::]:1").isLoopback)
        #expect(try !HostPort.parse("192.168.1.1:1").isLoopback)
        #expect(throws: HostPort.ParseError.badHost) { try HostPort.parse("01.2.3.4:1") }
    }
}
