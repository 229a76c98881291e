import Foundation
import NetKit

/// Everything a replica's HTTP/SignalR side can be told. Defaults follow ASP.NET Core SignalR.
public struct ServerOptions: Sendable {
    /// This replica's id (shown by the web client, put in message headers).
    public var nodeId: String
    /// Send a hub Ping when nothing was sent for this long (`KeepAliveInterval`).
    public var keepAliveInterval: Double = 15
    /// Close a connection that sent nothing for this long (`ClientTimeoutInterval`).
    public var clientTimeout: Double = 30
    /// How long a hub method waits for a client result (``SingleClientProxy/invoke(_:_:returning:timeout:)``)
    /// unless the hub or the call says otherwise. ASP.NET Core has no default: its hub method's token decides.
    public var clientResultTimeout: Double = 30
    /// The hub handshake must arrive within this (`HandshakeTimeout`).
    public var handshakeTimeout: Double = 15
    /// Largest hub message a client may send, in bytes (`MaximumReceiveMessageSize`); 0 = unlimited.
    public var maxMessageSize: Int = 32 * 1024
    /// Send the text of server errors to clients (ASP.NET Core's `EnableDetailedErrors`); `--detailed-errors`.
    public var detailedErrors = false
    /// Answer negotiate with a redirect to the next live replica in turn (`--redirect-negotiate`).
    public var redirectNegotiate = false
    /// The HS256 key that bearer tokens are checked against (`--jwt-key` or `JWT_KEY`); nil: tokens aren't
    /// checked and every connection is anonymous.
    public var jwtKey: [UInt8]?
    /// A negotiated connection that no transport claims is dropped after this (`DisconnectTimeout`).
    public var negotiateTimeout: Double = 15
    /// A long poll with nothing to send is answered (200, empty) after this (`LongPolling.PollTimeout`).
    public var longPollTimeout: Double = 90
    /// A connection left without a transport is disposed after this (ASP.NET Core's `DisconnectTimeout`): a
    /// long-polling connection with no poll outstanding, or a stateful-reconnect connection whose WebSocket dropped;
    /// `--disconnect-timeout`.
    public var disconnectTimeout: Double = 15
    /// The transports hub endpoints offer (negotiate lists them; a request for another gets 404).
    public var transports: Set<String> = ["WebSockets", "ServerSentEvents", "LongPolling"]
    /// Grant stateful reconnect to clients that ask for it at negotiate (`AllowStatefulReconnects`);
    /// `--stateful-reconnect on|off`.
    public var statefulReconnect = true
    /// Bytes of unacknowledged messages a stateful-reconnect connection keeps for a replay
    /// (`StatefulReconnectBufferSize`); `--stateful-reconnect-buffer`.
    public var statefulReconnectBufferSize: Int = 100_000
    /// Unclaimed negotiations kept per client address (per /64 for IPv6); past it the address's own oldest one
    /// is dropped.
    public var maxNegotiationsPerAddress: Int = 10_000
    /// Unclaimed negotiations kept over all addresses (a memory bound); past it the oldest one is dropped.
    public var maxNegotiations: Int = 100_000
    /// Who may read `GET /api/mesh`: loopback peers only (default), everyone, or nobody.
    public var statusAccess: StatusAccess = .local
    /// How long one rendering of `GET /api/mesh` is served again before a fresh snapshot is taken.
    public var statusMaxAge: Double = 1
    /// On SIGTERM, `/readyz` answers 503 for this long while everything else is served as before, so that a load
    /// balancer takes the replica out of rotation before its clients are told to reconnect; then the graceful
    /// shutdown. `--drain-delay`; 0: shut down at once.
    public var drainDelay: Double = 2
    /// `/readyz` turns 200 once the first mesh sync is done, or after this long listening whatever the peers do
    /// (see ``Readiness``).
    public var readySyncTimeout: Double = 10
    /// Who may call us from a browser (CORS and the WebSocket Origin check).
    public var allowedOrigins: OriginPolicy = .loopback
    /// Which `Host` names are served at all (the DNS rebinding guard); the default depends on the listener.
    public var allowedHosts: HostPolicy = .automatic
    /// Serve the raw RFC 6455 echo endpoint `/ws-echo` (for Autobahn).
    public var wsEcho: Bool = false
    /// Directory of the web client; nil = the bundled one.
    public var publicDir: String?
    /// The whole request head must arrive within this once it started (slowloris guard).
    public var requestHeadersTimeout: Double = 10
    /// An idle keep-alive HTTP connection is closed after this.
    public var httpIdleTimeout: Double = 120
    /// Wait this long for the peer's Close frame after ours.
    public var webSocketCloseTimeout: Double = 5
    /// Unsent bytes a hub connection may hold before it's dropped as a slow consumer.
    public var maxPendingBytesPerConnection: Int = 1 << 20
    /// Event loops for client sockets, the replica's own loop included (`--loops`): with more than one, accepted
    /// sockets are spread round-robin and the others do their reads and writes (``IOLoopGroup``); 1 keeps
    /// everything on the replica's loop.
    public var loops: Int = 1
    /// Message size limit of the raw echo endpoint (Autobahn sends 16 MiB).
    public var echoMaxMessageSize: Int = 16 * 1024 * 1024 + 1024
    var httpLimits = HTTPParserLimits()

    public init(nodeId: String) {
        self.nodeId = nodeId
    }

    /// `--loops auto`: one per core this process may run on.
    public static var loopsPerCore: Int { max(1, min(256, ProcessInfo.processInfo.activeProcessorCount)) }

    public var maxHeaderBytes: Int {
        get { httpLimits.maxHeaderBytes }
        set { httpLimits.maxHeaderBytes = newValue }
    }
    public var maxRequestBodyBytes: Int {
        get { httpLimits.maxBodyBytes }
        set { httpLimits.maxBodyBytes = newValue }
    }
}

/// Which browser origins may use the server.
public struct OriginPolicy: Sendable, Equatable {
    public var allowLoopback: Bool
    public var allowAny: Bool
    public var exact: Set<String>

    public static let loopback = OriginPolicy(allowLoopback: true, allowAny: false, exact: [])

    /// Parses a comma-separated list: exact origins (`https://app.example.com`), `loopback`, or `*`.
    public static func parse(_ text: String) throws(OriginPolicyError) -> OriginPolicy {
        var policy = OriginPolicy(allowLoopback: false, allowAny: false, exact: [])
        for raw in text.split(separator: ",") {
            let item = raw.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            if item == "*" {
                policy.allowAny = true
            } else if item.lowercased() == "loopback" {
                policy.allowLoopback = true
            } else {
                // A trailing slash is forgiven in configuration (people paste URLs); an Origin header has none.
                let bare = item.hasSuffix("/") ? String(item.dropLast()) : item
                guard let origin = Origin(bare) else { throw OriginPolicyError(text: "'\(item)' is not an origin like http://host:port") }
                policy.exact.insert(origin.serialized)
            }
        }
        return policy
    }

    /// Decides for an `Origin` header value. `requestHost` is the request's Host header (same origin is always allowed).
    func allows(_ originHeader: String, requestHost: String?) -> Bool {
        guard let origin = Origin(originHeader) else { return false }
        if allowAny { return true }
        if exact.contains(origin.serialized) { return true }
        if allowLoopback && origin.isLoopback { return true }
        if let host = requestHost, origin.hostPort == host.lowercased() || origin.hostPortWithDefault == host.lowercased() { return true }
        return false
    }
}

public struct OriginPolicyError: Error, CustomStringConvertible {
    public var text: String
    public var description: String { text }
}
