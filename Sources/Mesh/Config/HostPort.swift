import Foundation

/// A `host:port` address from peers.json.
///
/// `host` is kept as written, minus the brackets of an IPv6 literal (`[::1]:6001` → host `::1`).
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// True for `localhost`, 127.0.0.0/8 and `::1`.
    ///
    /// Wildcards (`0.0.0.0`, `::`) are *not* loopback: binding them exposes the port to the network.
    public var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        if let octets = HostPort.ipv4Octets(host) { return octets[0] == 127 }
        return false
    }

    /// The address to give the socket layer: `localhost` becomes `127.0.0.1` (no resolver on the mesh path).
    public var numericHost: String { host == "localhost" ? "127.0.0.1" : host }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Why a `host:port` string was refused; the text goes into a one-line error message.
    public enum ParseError: Error, Equatable, Sendable {
        case missingPort
        case badPort
        case badHost

        var reason: String {
            switch self {
            case .missingPort: return "expected host:port"
            case .badPort: return "port must be 1-65535"
            case .badHost: return "host must be an IPv4 literal, \"localhost\" or [IPv6]"
            }
        }
    }

    /// Parses `a.b.c.d:port`, `localhost:port` or `[v6]:port`.
    public static func parse(_ text: String) throws(ParseError) -> HostPort {
        let host: String
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .badHost }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .missingPort }
            portText = rest.dropFirst()
            guard isIPv6Literal(host) else { throw .badHost }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .missingPort }
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
            guard host == "localhost" || ipv4Octets(host) != nil else { throw .badHost }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(portText), (1...65535).contains(value)
        else { throw .badPort }
        return HostPort(host: host, port: UInt16(value))
    }

    /// Strict dotted-quad: four decimal parts 0–255, no leading zeros (which some parsers read as octal).
    static func ipv4Octets(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets = [UInt8]()
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                !(part.count > 1 && part.hasPrefix("0")), let value = Int(part), value <= 255
            else { return nil }
            octets.append(UInt8(value))
        }
        return octets
    }

    /// Hex digits, colons and (for an embedded IPv4 part) dots, and something `inet_pton` reads as an address.
    /// The character check comes first: `inet_pton` gets a C string, so a NUL would hide whatever follows it
    /// (`[::1\u0000x]` would pass as `::1` yet differ from it as a key); scopes (`%eth0`) are not accepted either.
    static func isIPv6Literal(_ text: String) -> Bool {
        guard !text.isEmpty, text.contains(":") else { return false }
        let isLiteralByte: (UInt8) -> Bool = { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: ":"), UInt8(ascii: "."):
                true
            default:
                false
            }
        }
        guard text.utf8.allSatisfy(isLiteralByte) else { return false }
        var storage = in6_addr()
        return inet_pton(AF_INET6, text, &storage) == 1
    }

    /// Key used to spot the same socket address written two ways (`localhost` vs `127.0.0.1`).
    var normalized: HostPort { HostPort(host: numericHost, port: port) }
}
