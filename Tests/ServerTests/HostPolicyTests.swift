import Testing

@testable import SignalRMesh

/// The DNS rebinding guard (issue 9): which `Host` values a replica serves, by listener address and
/// `--allowed-hosts`. Before it, every Host was served, so a page on a name rebound to 127.0.0.1 was "same origin"
/// with a local replica.
@Suite struct HostPolicyTests {
    static let loopbackListeners = ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"]
    static let openListeners = ["0.0.0.0", "::", "192.168.1.5", "10.1.2.3", "fe80::1", "::ffff:10.0.0.1"]

    /// Loopback names: served on every listener, whatever the setting.
    static let loopbackHosts = [
        "127.0.0.1", "127.0.0.1:5001", "127.255.0.9:1", "127.0.0.1:65535", "127.0.0.1:", "localhost", "localhost:5001",
        "LOCALHOST:5001", "LocalHost", "[::1]", "[::1]:5001", "[0:0:0:0:0:0:0:1]:80", "[0::1]", "[::0001]:5001",
    ]

    /// Not loopback names: refused on a loopback listener by default.
    static let foreignHosts = [
        // The attack: a public name rebound to 127.0.0.1, with and without the port.
        "evil.example:5001", "evil.example", "EVIL.example:5001", "chat.example",
        // Names that only look local.
        "localhost.", "localhost.:5001", "LOCALHOST.", "foo.localhost", "localhost.evil.example", "127.0.0.1.nip.io:5001",
        "127.attacker.example", "127.0.0.1.", "127.1", "0177.0.0.1", "0x7f.0.0.1", "2130706433", "127.0.0.256",
        // Other addresses.
        "10.0.0.1:5001", "0.0.0.0:5001", "192.168.1.5", "[::2]:5001", "[::ffff:127.0.0.1]", "[fe80::1]",
        // Not a Host value at all.
        "x", ".", ":5001", "127.0.0.1:5001:1", "127.0.0.1:99999", "127.0.0.1:123456", "127.0.0.1:abc", "127.0.0.1:-1",
        "[::1", "[::1]x", "[::1]:x", "::1", "[fe80::1%25lo]", "local host", "%6cocalhost", "127.0.0.1@evil.example",
        "evil.example@127.0.0.1", "l\u{1B}ocalhost", "lоcalhost" /* Cyrillic о */, String(repeating: "a", count: 400),
    ]

    // MARK: Default

    @Test(arguments: loopbackListeners) func defaultOnLoopbackServesLoopbackNamesOnly(_ listener: String) {
        let p = HostPolicy.automatic
        for host in Self.loopbackHosts { #expect(p.allows(host, listenerHost: listener), "\(listener) \(host)") }
        for host in Self.foreignHosts { #expect(!p.allows(host, listenerHost: listener), "\(listener) \(host)") }
        // No Host (HTTP/1.0) or an empty one: no browser sends that; served like loopback.
        #expect(p.allows(nil, listenerHost: listener))
        #expect(p.allows("", listenerHost: listener))
    }

    @Test(arguments: openListeners) func defaultOnOtherListenersServesAnyHost(_ listener: String) {
        let p = HostPolicy.automatic
        for host in Self.loopbackHosts + Self.foreignHosts + [""] {
            #expect(p.allows(host, listenerHost: listener), "\(listener) \(host)")
        }
        #expect(p.allows(nil, listenerHost: listener))
    }

    @Test func listenerAddresses() {
        for a in Self.loopbackListeners { #expect(HostPolicy.isLoopbackListener(a), "\(a)") }
        for a in Self.openListeners + ["", "localhost", "127.0.0.1.nip.io"] { #expect(!HostPolicy.isLoopbackListener(a), "\(a)") }
    }

    // MARK: Configured

    @Test func listedNamesAreServedOnEveryListener() throws {
        let p = try HostPolicy.parse("chat.example, Other.Example.")
        for listener in Self.loopbackListeners + Self.openListeners {
            for host in ["chat.example", "chat.example:5001", "CHAT.EXAMPLE", "chat.example.", "chat.example.:443",
                "other.example", "other.example.:80"] + Self.loopbackHosts
            {
                #expect(p.allows(host, listenerHost: listener), "\(listener) \(host)")
            }
            for host in ["evil.example:5001", "sub.chat.example", "chat.example.evil", "xchat.example", "chat.example..",
                "chat", "example", "chat.example:99999", "localhost."]
            {
                #expect(!p.allows(host, listenerHost: listener), "\(listener) \(host)")
            }
        }
    }

    @Test func withAListNoHostIsLoopbackOnlyOnALoopbackListener() throws {
        let p = try HostPolicy.parse("chat.example")
        #expect(p.allows(nil, listenerIsLoopback: true) && p.allows("", listenerIsLoopback: true))
        #expect(!p.allows(nil, listenerIsLoopback: false) && !p.allows("", listenerIsLoopback: false))
    }

    @Test func domainEntriesCoverSubdomains() throws {
        let p = try HostPolicy.parse(".example.com")
        for host in ["example.com", "example.com.", "a.example.com", "A.B.Example.com:5001"] {
            #expect(p.allows(host, listenerIsLoopback: true), "\(host)")
        }
        for host in ["badexample.com", "example.com.evil", "example.co", "com", "example.com.evil.example"] {
            #expect(!p.allows(host, listenerIsLoopback: true), "\(host)")
        }
    }

    @Test func addressEntriesMatchEverySpelling() throws {
        let p = try HostPolicy.parse("[FE80::1],192.168.1.10")
        for host in ["[fe80::1]", "[fe80:0:0::1]:5001", "[FE80:0000::0001]", "192.168.1.10", "192.168.1.10:5001"] {
            #expect(p.allows(host, listenerHost: "0.0.0.0"), "\(host)")
        }
        for host in ["[fe80::2]", "192.168.1.1", "192.168.1.100", "[::ffff:192.168.1.10]"] {
            #expect(!p.allows(host, listenerHost: "0.0.0.0"), "\(host)")
        }
    }

    @Test func starServesEverything() throws {
        let p = try HostPolicy.parse("*")
        for listener in Self.loopbackListeners + Self.openListeners {
            for host in Self.foreignHosts + Self.loopbackHosts + [""] { #expect(p.allows(host, listenerHost: listener)) }
            #expect(p.allows(nil, listenerHost: listener))
        }
        #expect(try HostPolicy.parse("chat.example, *").allowAny)
    }

    @Test func parsing() throws {
        let p = try HostPolicy.parse(" Chat.Example. ,.LAN,[::1],10.0.0.7 ")
        #expect(p.names == ["chat.example", "[0:0:0:0:0:0:0:1]", "10.0.0.7"] && p.domains == ["lan"] && p.isConfigured && !p.allowAny)
        #expect(HostPolicy.automatic == HostPolicy(allowAny: false, names: [], domains: [], isConfigured: false))
        for bad in ["", ",", " , ", "chat.example:80", "chat.example:", "http://chat.example", "chat.example/", "a b",
            "[::1", "[::1]:80", "[fe80::1%lo]", "..example", "chat..example", "*.example.com", ".", "..", ".10.0.0.1",
            "user@chat.example", "chät.example", String(repeating: "a", count: 254)]
        {
            #expect(throws: HostPolicyError.self, "\(bad)") { try HostPolicy.parse(bad) }
        }
    }

    @Test func headerSplitting() throws {
        #expect(HostPolicy.parseHeader("Chat.Example:5001")! == ("chat.example", 5001))
        #expect(HostPolicy.parseHeader("[::1]:80")! == ("[::1]", 80))
        #expect(HostPolicy.parseHeader("127.0.0.1")! == ("127.0.0.1", nil))
        #expect(HostPolicy.parseHeader("127.0.0.1:")! == ("127.0.0.1", nil))
        #expect(HostPolicy.parseHeader("a:1:2") == nil && HostPolicy.parseHeader("[::1]]") == nil)
        #expect(HostPolicy.canonicalHost("[::1]") == "[0:0:0:0:0:0:0:1]" && HostPolicy.canonicalHost("a.b.") == "a.b")
    }

    // MARK: Command line and log

    func run(_ args: [String]) throws -> ServerCommandLine {
        guard case .run(let c) = try ServerCommandLine.parse(["--node", "a"] + args) else { throw UsageError("help") }
        return c
    }

    @Test func flag() throws {
        #expect(try run([]).options.allowedHosts == .automatic)
        #expect(try run(["--allowed-hosts", "chat.example,.lan"]).options.allowedHosts == HostPolicy.parse("chat.example,.lan"))
        #expect(try run(["--allowed-hosts=*"]).options.allowedHosts.allowAny)
        #expect(try run(["--allowed-hosts=*"]).options != run([]).options)
        #expect(throws: UsageError("--allowed-hosts needs a value")) { try run(["--allowed-hosts"]) }
        #expect(throws: UsageError.self) { try run(["--allowed-hosts", "chat.example:80"]) }
        #expect(ServerCommandLine.usage.contains("--allowed-hosts LIST"))
    }

    @Test func refusedHostLineIsOneShortEscapedLine() {
        let fields = HTTPServer.refusedHostFields(
            method: "GET", path: "/chatHub\n2024 INFO forged", host: "evil.example:5001\r\n\u{1B}[2J" + String(repeating: "A", count: 5000),
            peer: nil)
        let line = LogfmtFormatter().format(
            LogRecord(time: .now(), level: .warning, label: "http", message: "request refused: unknown Host", fields: fields))
        #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{1B}"))
        #expect(line.contains(#"host="evil.example:5001\r\n\u001b[2J"#))
        #expect(line.utf8.count < 400, "\(line.utf8.count)")
        #expect(line.contains("see=--allowed-hosts"))
        #expect(HTTPServer.refusedHostFields(method: "GET", path: "/", host: nil, peer: nil)["host"] == "")
    }
}
