import Foundation

/// Which names in a request's `Host` header the replica answers to (`--allowed-hosts`): the guard against DNS
/// rebinding.
///
/// A page on `http://evil.example:5001` whose name the attacker then points at 127.0.0.1 is, for the browser, the
/// same origin as a replica on 127.0.0.1:5001: it may call it and read the answers, and its `Origin` equals the
/// `Host` the browser writes (`evil.example:5001`). What the page cannot choose is that `Host`: the browser takes it
/// from the page's URL. So a replica that listens only on loopback serves only requests naming it by a loopback
/// name, as webpack-dev-server (`allowedHosts`), Vite (`server.allowedHosts`) and Jupyter (`allow_remote_access`)
/// do.
///
/// - Loopback names are always served: `localhost`, a strict dotted quad in 127.0.0.0/8, `[::1]` in any spelling,
///   any port or none, any letter case (``LoopbackAddress/isLoopbackOriginHost(_:)``; not `localhost.` nor
///   `*.localhost`, which a resolver may send to DNS).
/// - Not configured (the default): on a loopback listener nothing else is served; on any other listener
///   (`0.0.0.0`, `::`, a LAN address) every Host is, since the names the operator reaches it by are unknown.
/// - Configured: the listed names too (whatever the listener), or everything with `*`.
/// - A request without `Host` (HTTP/1.0) or with an empty one comes from no browser; it counts as loopback only
///   when the listener is loopback.
public struct HostPolicy: Sendable, Equatable {
    /// Every Host is served (`*`).
    public var allowAny: Bool
    /// Names served besides the loopback ones: lowercased, no trailing dot; IPv6 literals as `[a:b:c:d:e:f:g:h]`
    /// (``canonicalHost(_:)``).
    public var names: Set<String>
    /// Domains served with all their subdomains (entries written `.example.com`): lowercased, no dots around.
    public var domains: Set<String>
    /// Whether `--allowed-hosts` was given. When not, a listener that isn't loopback serves every Host.
    public var isConfigured: Bool

    /// The default: loopback names only on a loopback listener, anything on another one.
    public static let automatic = HostPolicy(allowAny: false, names: [], domains: [], isConfigured: false)

    /// Parses `--allowed-hosts`: comma-separated host names (`chat.example`), IP addresses (`192.168.1.10`,
    /// `[fe80::1]`), domains with their subdomains (`.example.com`), or `*`. No ports, schemes or paths: the port
    /// never matters.
    public static func parse(_ text: String) throws(HostPolicyError) -> HostPolicy {
        var policy = HostPolicy(allowAny: false, names: [], domains: [], isConfigured: true)
        for raw in text.split(separator: ",") {
            let item = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if item.isEmpty { continue }
            if item == "*" {
                policy.allowAny = true
            } else if item.hasPrefix("*.") {
                throw HostPolicyError(text: "'\(item)': write '\(item.dropFirst())' for a domain and all its subdomains")
            } else if item.hasPrefix(".") {
                let domain = item.dropFirst()
                let bare = domain.hasSuffix(".") ? domain.dropLast() : domain
                guard isEntryName(bare), LoopbackAddress.ipv4(bare) == nil else {
                    throw HostPolicyError(text: "'\(item)' is not a domain like .example.com")
                }
                policy.domains.insert(String(bare))
            } else {
                let valid: Bool
                if item.hasPrefix("[") {
                    valid = item.hasSuffix("]") && LoopbackAddress.ipv6(item.dropFirst().dropLast()) != nil
                } else {
                    valid = isEntryName(item.hasSuffix(".") ? item.dropLast() : item[...])
                }
                guard valid else {
                    throw HostPolicyError(text: "'\(item)' is not a host name (chat.example), an IP address or '*' (no scheme, no port)")
                }
                policy.names.insert(canonicalHost(item))
            }
        }
        guard policy.allowAny || !policy.names.isEmpty || !policy.domains.isEmpty else {
            throw HostPolicyError(text: "needs at least one host name, or '*'")
        }
        return policy
    }

    /// Decides for one request.
    /// - Parameters:
    ///   - hostHeader: the request's `Host` value; nil when it has none.
    ///   - listenerIsLoopback: whether the HTTP listener is bound to a loopback address.
    /// - Returns: whether to serve it.
    func allows(_ hostHeader: String?, listenerIsLoopback: Bool) -> Bool {
        if allowAny || (!isConfigured && !listenerIsLoopback) { return true }
        guard let hostHeader, !hostHeader.isEmpty else { return listenerIsLoopback }
        guard let host = Self.parseHeader(hostHeader)?.host else { return false }
        if LoopbackAddress.isLoopbackOriginHost(host) { return true }
        let name = Self.canonicalHost(host)
        if names.contains(name) { return true }
        return domains.contains { name == $0 || name.hasSuffix("." + $0) }
    }

    /// Decides for one request on a listener bound to `listenerHost` (the address as the kernel reports it:
    /// `127.0.0.1`, `::1`, `0.0.0.0`, `::`…).
    func allows(_ hostHeader: String?, listenerHost: String) -> Bool {
        allows(hostHeader, listenerIsLoopback: Self.isLoopbackListener(listenerHost))
    }

    /// Whether a listener bound to `host` is reachable only from this machine. The wildcard addresses are not.
    static func isLoopbackListener(_ host: String) -> Bool { LoopbackAddress.isLoopbackPeer(host) }

    /// `uri-host [":" port]` split, strictly: the host lowercased (an IPv6 literal kept in brackets and checked), a
    /// port of at most five digits up to 65535 (or empty, as RFC 3986 allows), or nil when the value is anything
    /// else (more colons, a zone id, escapes, userinfo, whitespace, non-ASCII).
    static func parseHeader(_ value: String) -> (host: String, port: Int?)? {
        guard value.utf8.count <= 300 else { return nil }
        let lower = value.lowercased()
        guard let (host, portText) = URIAuthority.split(lower[...]) else { return nil }
        guard let portText, !portText.isEmpty else { return (host, nil) }
        guard portText.utf8.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let port = Int(portText),
            port <= 65535
        else { return nil }
        return (host, port)
    }

    /// The form names are compared in: one trailing dot dropped from a name (`chat.example.` is `chat.example`),
    /// an IPv6 literal written out in full (`[0:0:0:0:0:0:0:1]`) so every spelling compares equal.
    static func canonicalHost(_ host: String) -> String {
        if host.hasPrefix("["), host.hasSuffix("]"), let bytes = LoopbackAddress.ipv6(host.dropFirst().dropLast()) {
            let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return "[" + groups.joined(separator: ":") + "]"
        }
        return host.hasSuffix(".") ? String(host.dropLast()) : host
    }

    /// A configured name: dot-separated labels of letters, digits, `-` and `_`, none empty.
    private static func isEntryName(_ name: Substring) -> Bool {
        !name.isEmpty && name.utf8.count <= 253 && name.utf8.allSatisfy(URIAuthority.isHostByte)
            && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty }
    }
}

/// A bad `--allowed-hosts` value, in words.
public struct HostPolicyError: Error, CustomStringConvertible {
    public var text: String
    public var description: String { text }
}
