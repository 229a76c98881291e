import Glibc

/// Decides whether an IP address literal names this machine (loopback), strictly: a name that merely looks
/// like an address (`127.0.0.1.nip.io`, `127.attacker.example`, `0x7f.1`) is not one.
enum LoopbackAddress {
    /// The four bytes of a strict dotted-quad IPv4 literal (`a.b.c.d`, decimal, each 0–255 with no leading zero),
    /// or nil for anything else (short forms like `127.1`, hex, octal, a trailing dot).
    static func ipv4(_ text: some StringProtocol) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4)
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard bytes.count < 4, (1...3).contains(part.utf8.count), part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                part.utf8.count == 1 || part.utf8.first != 0x30, let value = Int(part), value <= 255
            else { return nil }
            bytes.append(UInt8(value))
        }
        return bytes.count == 4 ? bytes : nil
    }

    /// The sixteen bytes of an IPv6 literal without brackets or zone (`::1`, `fe80::1`), or nil.
    static func ipv6(_ text: some StringProtocol) -> [UInt8]? {
        let s = String(text)
        guard !s.isEmpty, s.utf8.count <= 45, s.utf8.allSatisfy({ isHex($0) || $0 == 0x3A || $0 == 0x2E }) else { return nil }
        var address = in6_addr()
        guard inet_pton(AF_INET6, s, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    static let ipv6Loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]

    /// Whether the host of a browser `Origin` counts as loopback: `localhost`, a strict dotted-quad in
    /// 127.0.0.0/8, or `[::1]` (in any spelling). `host` is lowercased, IPv6 in brackets. Deliberately not
    /// `localhost.` or `*.localhost` (names a resolver may send to DNS) nor `[::ffff:127.0.0.1]` (browsers never
    /// serialize an origin that way).
    static func isLoopbackOriginHost(_ host: String) -> Bool {
        if host == "localhost" { return true }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            return ipv6(host.dropFirst().dropLast()) == ipv6Loopback
        }
        return ipv4(host)?.first == 127
    }

    /// Whether a socket peer address (as the kernel reported it: `inet_ntop` text, no brackets) is loopback:
    /// 127.0.0.0/8, `::1`, or an IPv4-mapped `::ffff:127.x.y.z` (a v4 client of a dual-stack socket).
    static func isLoopbackPeer(_ host: String) -> Bool {
        if let v4 = ipv4(host) { return v4[0] == 127 }
        guard let v6 = ipv6(host) else { return false }
        if v6 == ipv6Loopback { return true }
        return v6[0..<10].allSatisfy { $0 == 0 } && v6[10] == 0xFF && v6[11] == 0xFF && v6[12] == 127
    }

    /// The key under which a client's address is counted for per-address limits: the IPv4 address (also for
    /// an IPv4-mapped IPv6 peer), or the /64 prefix of an IPv6 address (one subscriber usually holds a whole
    /// /64, so counting single IPv6 addresses would let one client pose as billions).
    static func sourceKey(_ host: String) -> String {
        if ipv4(host) != nil { return host }
        guard let v6 = ipv6(host) else { return host }
        if v6[0..<10].allSatisfy({ $0 == 0 }) && v6[10] == 0xFF && v6[11] == 0xFF {
            return "\(v6[12]).\(v6[13]).\(v6[14]).\(v6[15])"
        }
        var groups: [String] = []
        for i in stride(from: 0, to: 8, by: 2) { groups.append(String(UInt16(v6[i]) << 8 | UInt16(v6[i + 1]), radix: 16)) }
        return groups.joined(separator: ":") + "::/64"
    }

    private static func isHex(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)
    }
}
