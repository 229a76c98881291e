/// The `host [":" port]` part shared by an `Origin` header and a `Host` header, split strictly.
///
/// Both callers lowercase first and check their own extra rules (an origin's scheme and forbidden characters, a
/// Host header's empty port); this is only the split: an IPv6 literal must parse and keeps its brackets, a name may
/// hold only letters, digits, `-`, `.` and `_`, and at most one `:` separates the port text.
enum URIAuthority {
    /// `(host, port text)`, or nil when `authority` is not `host[:port]`. The host is non-empty; the port text is
    /// returned unchecked (nil when there is no `:`).
    static func split(_ authority: Substring) -> (host: String, portText: Substring?)? {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let literal = authority[authority.index(after: authority.startIndex)..<close]
            guard LoopbackAddress.ipv6(literal) != nil else { return nil }
            let after = authority[authority.index(after: close)...]
            if after.isEmpty { return ("[\(literal)]", nil) }
            guard after.first == ":" else { return nil }
            return ("[\(literal)]", after.dropFirst())
        }
        let parts = authority.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty, parts[0].utf8.allSatisfy(isHostByte) else { return nil }
        return (String(parts[0]), parts.count == 2 ? parts[1] : nil)
    }

    /// Letters, digits, `-`, `.`, `_` (after lowercasing).
    static func isHostByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E || b == 0x5F
    }
}
