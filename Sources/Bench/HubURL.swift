// The client side of the wire, written independently of the server's codecs on purpose: a load client that
// shared the server's parser would also share its bugs.

/// `http://host:port/path` of a hub, the only URL shape the benchmarks take.
struct HubURL: Equatable, CustomStringConvertible {
    var host: String
    var port: UInt16
    /// Hub path without a trailing slash, e.g. `/chatHub`.
    var path: String

    /// Parses `http://host:port/path`. Only plain `http` and numeric IPv4 hosts or `localhost`.
    init(parsing text: String) throws(UsageError) {
        guard text.hasPrefix("http://") else { throw UsageError("'\(text)' is not an http:// URL") }
        let rest = text.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var path = String(rest[slash...])
        while path.hasSuffix("/") { path.removeLast() }
        guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]), port > 0
        else { throw UsageError("'\(text)' needs an explicit port (http://host:port/path)") }
        var host = String(authority[..<colon])
        if host == "localhost" { host = "127.0.0.1" }
        guard IPv4.parse(host) != nil else { throw UsageError("'\(text)': host must be an IPv4 literal or localhost") }
        guard !path.isEmpty else { throw UsageError("'\(text)' has no hub path (e.g. /chatHub)") }
        self.host = host
        self.port = port
        self.path = path
    }

    var description: String { "http://\(host):\(port)\(path)" }
    var hostHeader: String { "\(host):\(port)" }
}
