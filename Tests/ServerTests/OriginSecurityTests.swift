import Testing

@testable import SignalRMesh

/// The default "loopback" policy lets in only real loopback origins (issue 9, weakness 1: it used to accept any
/// host starting with "127.").
@Suite struct OriginSecurityTests {
    static let allowed = [
        "http://localhost", "http://localhost:4200", "https://localhost:8443", "http://LOCALHOST:4200",
        "http://127.0.0.1", "http://127.0.0.1:5001", "http://127.255.10.3:80", "HTTP://127.0.0.1:1",
        "http://[::1]", "http://[::1]:3000", "https://[0:0:0:0:0:0:0:1]:3000",
    ]

    static let refused = [
        // Names that merely start like a loopback address.
        "http://127.attacker.example", "http://127.0.0.1.nip.io", "http://127.0.0.1.evil.example:5001",
        "http://localhost.evil.example", "http://localhost.", "http://localhost.:4200", "http://foo.localhost",
        // Userinfo, paths, queries, fragments, backslashes, escapes.
        "http://127.0.0.1@evil.example", "http://evil.example@127.0.0.1", "http://127.0.0.1:80@evil.example",
        "http://127.0.0.1/", "http://127.0.0.1/path", "http://127.0.0.1?x", "http://127.0.0.1#x",
        "http://127.0.0.1\\@evil.example", "http://127%2e0.0.1", "http://%6cocalhost",
        // Not strict dotted quads, or not in 127/8.
        "http://127.1", "http://127.0.1", "http://0177.0.0.1", "http://127.000.0.1", "http://2130706433",
        "http://0x7f.0.0.1", "http://127.0.0.256", "http://127.0.0.1.", "http://128.0.0.1", "http://10.0.0.1",
        // IPv6 other than ::1 (mapped loopback too: browsers never serialize an origin that way).
        "http://[::ffff:127.0.0.1]", "http://[::ffff:7f00:1]", "http://[::2]", "http://[::1", "http://[::1]x",
        "http://[::1]:", "http://[fe80::1%25lo]",
        // Ports.
        "http://localhost:", "http://localhost:0", "http://localhost:65536", "http://localhost:+80",
        "http://localhost:-1", "http://localhost:80:80", "http://localhost: 80",
        // Not origins at all.
        "null", " null", "null ", "", "localhost", "//localhost", "ws://localhost", "file://localhost",
        "http:/localhost", "http://", "http://:80", " http://localhost", "http://localhost ",
        "http://local\thost", "http://localhost\r\n", "http://l\u{1B}ocalhost", "http://lоcalhost" /* Cyrillic о */,
        "http://xn--lcalhost-9xa", "http://" + String(repeating: "a", count: 400),
    ]

    @Test(arguments: allowed) func loopbackOriginsAreAllowed(_ origin: String) {
        #expect(OriginPolicy.loopback.allows(origin, requestHost: nil), "\(origin)")
    }

    @Test(arguments: refused) func lookalikesAreRefused(_ origin: String) {
        #expect(!OriginPolicy.loopback.allows(origin, requestHost: nil), "\(origin)")
        // Not even as "same origin" with a Host header that the client chose to match.
        #expect(!OriginPolicy.loopback.allows(origin, requestHost: "127.0.0.1:5001"), "\(origin)")
    }

    @Test func parsedParts() throws {
        let o = try #require(Origin("HTTPS://Chat.Example.com:443"))
        #expect(o.scheme == "https" && o.host == "chat.example.com" && o.port == nil)
        #expect(o.serialized == "https://chat.example.com")
        let v6 = try #require(Origin("http://[::1]:8080"))
        #expect(v6.host == "[::1]" && v6.port == 8080 && v6.isLoopback)
        #expect(Origin("http://127.0.0.1.nip.io")?.isLoopback == false)
        #expect(Origin("http://127.0.0.1@evil.com") == nil)
    }

    @Test func configurationForgivesATrailingSlashButHeadersDoNot() throws {
        let p = try OriginPolicy.parse("https://app.example.com/")
        #expect(p.allows("https://app.example.com", requestHost: nil))
        #expect(!p.allows("https://app.example.com/", requestHost: nil))
        #expect(throws: OriginPolicyError.self) { try OriginPolicy.parse("https://user@app.example.com") }
        #expect(throws: OriginPolicyError.self) { try OriginPolicy.parse("https://app.example.com/x") }
    }

    @Test func strictDottedQuads() {
        #expect(LoopbackAddress.ipv4("127.0.0.1") == [127, 0, 0, 1])
        #expect(LoopbackAddress.ipv4("0.0.0.0") == [0, 0, 0, 0])
        for bad in ["127.0.0", "127.0.0.1.", ".127.0.0.1", "127..0.1", "01.0.0.1", "1.2.3.4.5", "256.0.0.1", "1.2.3.-4", "1.2.3.+4", "1.2.3.a", "", "1234.0.0.1"] {
            #expect(LoopbackAddress.ipv4(bad) == nil, "\(bad)")
        }
    }
}
