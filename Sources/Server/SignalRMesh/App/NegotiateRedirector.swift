import Mesh
import NetKit

/// `--redirect-negotiate`: spreads new connections over the live replicas. Each negotiate is served by the next
/// reachable replica in turn: here as usual, or elsewhere with the negotiate redirect that every stock client
/// follows (`{"url":…,"accessToken":…}`: the JS and .NET clients negotiate again at `url` with the token as their
/// bearer token; pysignalr and signalrcore connect their WebSocket to `url` with it).
///
/// The redirected URL carries `redirected=1` so that the replica it names serves the request itself (no loops),
/// and the client's own bearer token is passed on as `accessToken` (a hub that requires a user still checks it
/// there); a client without one gets a placeholder, which an anonymous hub ignores (stock clients need a
/// non-empty token to follow a redirect). Confined to the replica's loop.
final class NegotiateRedirector {
    static let marker = "redirected"
    static let placeholderToken = "anonymous"

    private let selfId: String
    private var replicas: [Replica]
    private let isReachable: (String) -> Bool
    private var next = 0

    init(selfId: String, replicas: [Replica], isReachable: @escaping (String) -> Bool) {
        self.selfId = selfId
        self.replicas = replicas.sorted { $0.id < $1.id }
        self.isReachable = isReachable
    }

    /// The replicas of a reloaded peers file (this one included).
    func update(replicas: [Replica]) {
        self.replicas = replicas.sorted { $0.id < $1.id }
    }

    /// The redirect body for this negotiate, or nil to serve it here.
    func redirect(_ request: HTTPRequest, hubPath: String, bearerToken: String?) -> [UInt8]? {
        guard request.queryValue(Self.marker) == nil else { return nil }
        let live = replicas.filter { $0.id == selfId || isReachable($0.id) }
        guard !live.isEmpty else { return nil }
        let target = live[next % live.count]
        next &+= 1
        guard target.id != selfId else { return nil }
        let url = "http://\(Self.authority(of: target.http, requestHost: request.headers["Host"]))\(hubPath)?\(Self.marker)=1"
        var out: [UInt8] = []
        JSONWriter.appendASCII("{\"url\":", to: &out)
        JSONWriter.writeString(url, into: &out)
        JSONWriter.appendASCII(",\"accessToken\":", to: &out)
        JSONWriter.writeString(bearerToken ?? Self.placeholderToken, into: &out)
        out.append(JSONByte.closeBrace)
        return out
    }

    /// The target's `host:port` as the client can reach it: a wildcard bind address is replaced by the host name
    /// the client used for this replica.
    static func authority(of target: HostPort, requestHost: String?) -> String {
        let wildcard = target.host == "0.0.0.0" || target.host == "::" || target.host.isEmpty
        var host = target.host
        if wildcard, let requestHost, let split = URIAuthority.split(Substring(requestHost.lowercased())) {
            host = split.host
        }
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        return "\(host):\(target.port)"
    }
}
