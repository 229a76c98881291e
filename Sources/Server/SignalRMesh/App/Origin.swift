/// A browser origin, `scheme://host[:port]` as the `Origin` header serializes it (RFC 6454 §6.2), parsed
/// strictly: anything else is not an origin, and so is never allowed.
///
/// Refused: `null`, other schemes, userinfo (`http://127.0.0.1@evil.example`), paths, queries, fragments,
/// percent-escapes, whitespace, non-ASCII hosts (browsers send IDNs as punycode), empty or non-numeric
/// ports (`+80`), and IPv6 literals that don't parse. Scheme and host compare case-insensitively (they are
/// lowercased here); the scheme's default port is dropped, so `https://x:443` equals `https://x`.
struct Origin: Equatable {
    /// `http` or `https`.
    var scheme: String
    /// Lowercased; an IPv6 literal keeps its brackets.
    var host: String
    /// nil for the scheme's default port.
    var port: Int?

    init?(_ text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.count <= 300, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        let lower = text.lowercased()
        guard let range = lower.range(of: "://") else { return nil }
        scheme = String(lower[..<range.lowerBound])
        guard scheme == "http" || scheme == "https" else { return nil }
        // None of the characters that start userinfo, a path, a query, a fragment or an escape: what's left is
        // host[:port].
        let authority = lower[range.upperBound...]
        guard !authority.utf8.contains(where: { Self.forbidden.contains($0) }) else { return nil }
        guard let (host, portText) = URIAuthority.split(authority) else { return nil }
        self.host = host
        guard !host.isEmpty, host != "." else { return nil }
        if let portText {
            guard (1...5).contains(portText.utf8.count), portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let p = Int(portText), (1...65535).contains(p)
            else { return nil }
            port = p
        } else {
            port = nil
        }
        if port == (scheme == "https" ? 443 : 80) { port = nil }
    }

    /// `@` (userinfo), `/`, `?`, `#`, `\` (browsers read it as `/`), `%` (escapes), and `"`, `<`, `>`, `` ` ``,
    /// `{`, `}`, `|`, `^`, which no serialized origin contains.
    private static let forbidden: Set<UInt8> = Set("@/?#\\%\"<>`{}|^".utf8)

    var serialized: String { port.map { "\(scheme)://\(host):\($0)" } ?? "\(scheme)://\(host)" }
    var hostPort: String { port.map { "\(host):\($0)" } ?? host }
    var hostPortWithDefault: String { "\(host):\(port ?? (scheme == "https" ? 443 : 80))" }
    /// See ``LoopbackAddress/isLoopbackOriginHost(_:)``.
    var isLoopback: Bool { LoopbackAddress.isLoopbackOriginHost(host) }
}
