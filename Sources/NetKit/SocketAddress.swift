import CSystem
import Glibc

/// An IPv4 or IPv6 socket address parsed from "host:port" ("127.0.0.1:5001", "[::1]:5001", "localhost:5001").
public struct SocketAddress: CustomStringConvertible, Sendable, Equatable {
    public enum Family: Sendable, Equatable { case v4, v6 }
    public var host: String
    public var port: UInt16
    public var family: Family

    public init(host: String, port: UInt16) throws(AddressError) {
        var h = host
        if h == "localhost" { h = "127.0.0.1" }
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if SocketAddress.parseV4(h) != nil {
            family = .v4
        } else if SocketAddress.parseV6(h) != nil {
            family = .v6
        } else {
            throw AddressError(text: "'\(host)' is not an IP address (use an IPv4/IPv6 literal or localhost)")
        }
        self.host = h
        self.port = port
    }

    /// Parses "host:port".
    public init(parsing text: String) throws(AddressError) {
        guard let colon = text.lastIndex(of: ":") else { throw AddressError(text: "'\(text)' is not host:port") }
        let hostPart = String(text[..<colon])
        let portPart = String(text[text.index(after: colon)...])
        guard let p = Int(portPart), p >= 0, p <= 65535 else { throw AddressError(text: "'\(text)' has a bad port") }
        guard !hostPart.isEmpty else { throw AddressError(text: "'\(text)' has no host") }
        try self.init(host: hostPart, port: UInt16(p))
    }

    public var description: String { family == .v6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var isLoopback: Bool {
        switch family {
        case .v4: return host.hasPrefix("127.")
        case .v6: return host == "::1"
        }
    }

    static func parseV4(_ s: String) -> in_addr? {
        var a = in_addr()
        return inet_pton(AF_INET, s, &a) == 1 ? a : nil
    }

    static func parseV6(_ s: String) -> in6_addr? {
        var a = in6_addr()
        return inet_pton(AF_INET6, s, &a) == 1 ? a : nil
    }

    /// Calls `body` with a sockaddr for this address.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch family {
        case .v4:
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr = SocketAddress.parseV4(host)!
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6:
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            sa.sin6_addr = SocketAddress.parseV6(host)!
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// The address a socket is bound to or connected to.
    static func from(storage: sockaddr_storage) -> SocketAddress? {
        var st = storage
        switch Int32(st.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &st) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p -> SocketAddress? in
                    var addr = p.pointee.sin_addr
                    var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count))
                    let host = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    return try? SocketAddress(host: host, port: UInt16(bigEndian: p.pointee.sin_port))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &st) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p -> SocketAddress? in
                    var addr = p.pointee.sin6_addr
                    var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                    inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count))
                    let host = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    return try? SocketAddress(host: host, port: UInt16(bigEndian: p.pointee.sin6_port))
                }
            }
        default:
            return nil
        }
    }
}

public struct AddressError: Error, CustomStringConvertible, Sendable {
    public var text: String
    public var description: String { text }
}
