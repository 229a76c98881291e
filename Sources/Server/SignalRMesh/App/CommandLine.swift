import NetKit

/// Parsed command line of `Server`.
public struct ServerCommandLine: Equatable, Sendable {
    public var node: String
    public var peersPath: String = "peers.json"
    public var logLevel: LogLevel = .info
    public var logFormat: LogFormat = .logfmt
    /// `--watch-peers`: reload the peers file when it changes (besides on SIGHUP).
    public var watchPeers = false
    public var options: ServerOptions

    public static let usage = """
        Usage: Server --node ID [options]

        Runs one replica of the SignalR mesh. Its HTTP and mesh addresses come from its entry in the peers file.

        Options:
          --node ID                 this replica's id in the peers file (required)
          --peers PATH              peers file (default: peers.json)
          --log-level LEVEL         trace, debug, info, notice, warning, error (default: info)
          --log-format FORMAT       log lines on stderr as `logfmt` (key=value pairs) or `json` (one object per
                                    line) (default: logfmt)
          --allowed-origins LIST    browser origins allowed by CORS and the WebSocket Origin check: comma-separated
                                    origins (http://host:port), `loopback` (http(s)://localhost, 127.x.y.z and
                                    [::1] literals, any port), or `*` (default: loopback). A hub request from any
                                    other Origin is refused with 403
          --allowed-hosts LIST      names a request's Host header may give, against DNS rebinding: comma-separated
                                    host names (chat.example), IP addresses, domains with all their subdomains
                                    (.example.com), or `*` for any; localhost, 127.x.y.z and [::1] are always
                                    served. Default: when the HTTP address is loopback, only those; otherwise any
                                    Host. Every other request gets 403
          --keep-alive SECONDS      hub Ping after this much silence from the server (default: 15)
          --client-timeout SECONDS  close a hub client from which no byte at all (of any frame, a WebSocket ping
                                    included) arrived for this long (default: 30)
          --handshake-timeout SECONDS  hub handshake deadline (default: 15)
          --client-result-timeout SECONDS  how long a hub method waits for a client result (default: 30)
          --negotiate-timeout SECONDS  drop a negotiated connection nobody connects to (default: 15)
          --long-poll-timeout SECONDS  answer a long poll that has nothing to send after this (default: 90)
          --disconnect-timeout SECONDS  dispose a connection left without a transport for this long: a long-polling
                                    connection with no poll outstanding, or a stateful-reconnect client whose
                                    WebSocket dropped (default: 15)
          --transports LIST         transports offered, comma-separated: WebSockets, ServerSentEvents, LongPolling
                                    (default: all three); a request for another gets 404
          --stateful-reconnect on|off  grant stateful reconnect to clients that ask for it at negotiate (default: on)
          --stateful-reconnect-buffer BYTES  unacknowledged messages kept per stateful-reconnect connection for a
                                    replay (default: 100000)
          --max-message-size BYTES  largest hub message a client may send, however it is split into WebSocket frames;
                                    past it the connection is closed with an error (default: 32768)
          --max-negotiations-per-address N  negotiations waiting for their WebSocket kept per client address
                                    (IPv6: per /64); past it that address's oldest is dropped (default: 10000)
          --max-negotiations N      negotiations waiting for their WebSocket kept in all (memory bound); past it
                                    the oldest is dropped (default: 100000)
          --status-access WHO       who may read GET /api/mesh, /metrics, /healthz and /readyz: `local` (clients whose
                                    TCP peer address is loopback; others get 403), `any` (load balancers and
                                    Prometheus on other hosts), or `off` (404) (default: local)
          --status-max-age SECONDS  serve one rendering of /api/mesh and /metrics for this long before taking a
                                    fresh snapshot (default: 1)
          --drain-delay SECONDS     on SIGTERM, answer GET /readyz with 503 for this long while still serving
                                    everyone, then shut down gracefully; 0 shuts down at once (default: 2)
          --detailed-errors         send the text of server errors to clients (ASP.NET Core's EnableDetailedErrors;
                                    HubException messages are always sent)
          --jwt-key KEY             HS256 key (at least 32 bytes of UTF-8) that bearer tokens are checked against;
                                    a valid token's `sub` (else `nameidentifier`) claim is the connection's user.
                                    The JWT_KEY environment variable works too; without either, every connection
                                    is anonymous
          --redirect-negotiate      spread new connections over the live replicas: negotiate answers with a redirect
                                    (`url` + `accessToken`) to the next reachable replica in turn (or serves it here)
          --public-dir DIR          serve the web client from DIR instead of the bundled one
          --loops N|auto            event loops for client sockets, this replica's own included: sockets are spread
                                    over them and the others do their reads and writes, while hub state stays on
                                    the first; `auto` = one per core (default: 1)
          --ws-echo                 also serve a raw WebSocket echo endpoint at /ws-echo (conformance tests)
          --watch-peers             reload the peers file when it changes (looked at every second), as on SIGHUP
          --list-replicas           print the peers file's replicas, one `id http mesh` line each, and exit (no --node
                                    needed; the file gets the same checks as at start)
          -h, --help                show this help

        Signals: SIGTERM/SIGINT stop the replica gracefully; SIGHUP reloads the peers file (same path, same
        MESH_SECRET): new replicas are dialed, removed ones left, moved ones redialed. A file that can't be applied
        (unreadable, invalid, or changing the cluster, the secret, the encryption setting or this replica's own
        entry) is refused with one log line and the membership in force stays.

        Environment: MESH_SECRET overrides the peers file's secret; JWT_KEY gives --jwt-key.
        """

    public enum Parsed: Equatable, Sendable {
        case help
        case run(ServerCommandLine)
        /// `--list-replicas`: print the replicas of this peers file and exit.
        case listReplicas(peersPath: String)
    }

    /// Parses arguments (without the program name). Errors are one line, fit for `error: <text>`.
    public static func parse(_ args: [String]) throws(UsageError) -> Parsed {
        var node: String?
        var listReplicas = false
        var result = ServerCommandLine(node: "", options: ServerOptions(nodeId: ""))
        var i = 0
        func value(_ flag: String, _ inline: String?) throws(UsageError) -> String {
            if let inline { return inline }
            i += 1
            guard i < args.count else { throw UsageError("\(flag) needs a value") }
            return args[i]
        }
        func seconds(_ flag: String, _ inline: String?) throws(UsageError) -> Double {
            let text = try value(flag, inline)
            guard let v = Double(text), v.isFinite, v > 0, v <= 86_400 else {
                throw UsageError("\(flag) takes a number of seconds between 0 and 86400, not '\(text)'")
            }
            return v
        }
        func count(_ flag: String, _ inline: String?, max: Int) throws(UsageError) -> Int {
            let text = try value(flag, inline)
            guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(text), v >= 1, v <= max else {
                throw UsageError("\(flag) takes a whole number between 1 and \(max), not '\(text)'")
            }
            return v
        }
        while i < args.count {
            var flag = args[i]
            var inline: String?
            if flag.hasPrefix("--"), let eq = flag.firstIndex(of: "=") {
                inline = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            switch flag {
            case "-h", "--help":
                return .help
            case "--node":
                node = try value(flag, inline)
            case "--peers":
                result.peersPath = try value(flag, inline)
            case "--log-level":
                let text = try value(flag, inline)
                guard let level = LogLevel(name: text) else { throw UsageError("--log-level must be one of trace, debug, info, notice, warning, error; got '\(text)'") }
                result.logLevel = level
            case "--log-format":
                let text = try value(flag, inline)
                guard let format = LogFormat(name: text) else { throw UsageError("--log-format must be logfmt or json; got '\(text)'") }
                result.logFormat = format
            case "--allowed-origins":
                do {
                    result.options.allowedOrigins = try OriginPolicy.parse(try value(flag, inline))
                } catch let e as OriginPolicyError {
                    throw UsageError("--allowed-origins: \(e.text)")
                } catch let e as UsageError {
                    throw e
                } catch {
                    throw UsageError("--allowed-origins: \(error)")
                }
            case "--allowed-hosts":
                do {
                    result.options.allowedHosts = try HostPolicy.parse(try value(flag, inline))
                } catch let e as HostPolicyError {
                    throw UsageError("--allowed-hosts: \(e.text)")
                } catch let e as UsageError {
                    throw e
                } catch {
                    throw UsageError("--allowed-hosts: \(error)")
                }
            case "--keep-alive":
                result.options.keepAliveInterval = try seconds(flag, inline)
            case "--client-timeout":
                result.options.clientTimeout = try seconds(flag, inline)
            case "--client-result-timeout":
                result.options.clientResultTimeout = try seconds(flag, inline)
            case "--handshake-timeout":
                result.options.handshakeTimeout = try seconds(flag, inline)
            case "--negotiate-timeout":
                result.options.negotiateTimeout = try seconds(flag, inline)
            case "--long-poll-timeout":
                result.options.longPollTimeout = try seconds(flag, inline)
            case "--disconnect-timeout":
                result.options.disconnectTimeout = try seconds(flag, inline)
            case "--transports":
                let text = try value(flag, inline)
                let known = ["WebSockets", "ServerSentEvents", "LongPolling"]
                var chosen: Set<String> = []
                for raw in text.split(separator: ",") {
                    let item = String(raw.filter { $0 != " " })
                    guard let name = known.first(where: { $0.lowercased() == item.lowercased() }) else {
                        throw UsageError("--transports takes WebSockets, ServerSentEvents, LongPolling (comma-separated), not '\(item)'")
                    }
                    chosen.insert(name)
                }
                guard !chosen.isEmpty else { throw UsageError("--transports needs at least one transport") }
                result.options.transports = chosen
            case "--stateful-reconnect":
                let text = try value(flag, inline)
                switch text.lowercased() {
                case "on": result.options.statefulReconnect = true
                case "off": result.options.statefulReconnect = false
                default: throw UsageError("--stateful-reconnect takes on or off, not '\(text)'")
                }
            case "--stateful-reconnect-buffer":
                result.options.statefulReconnectBufferSize = try count(flag, inline, max: 1 << 30)
            case "--max-message-size":
                let text = try value(flag, inline)
                guard let v = Int(text), v >= 1024, v <= 16 << 20 else {
                    throw UsageError("--max-message-size takes bytes between 1024 and 16777216, not '\(text)'")
                }
                result.options.maxMessageSize = v
            case "--max-negotiations-per-address":
                result.options.maxNegotiationsPerAddress = try count(flag, inline, max: 10_000_000)
            case "--max-negotiations":
                result.options.maxNegotiations = try count(flag, inline, max: 10_000_000)
            case "--status-access":
                let text = try value(flag, inline)
                guard let access = StatusAccess(rawValue: text.lowercased()) else {
                    throw UsageError("--status-access must be one of local, any, off; got '\(text)'")
                }
                result.options.statusAccess = access
            case "--status-max-age":
                let v = try seconds(flag, inline)
                guard v <= 60 else { throw UsageError("--status-max-age takes a number of seconds between 0 and 60, not '\(v)'") }
                result.options.statusMaxAge = v
            case "--drain-delay":
                let text = try value(flag, inline)
                guard let v = Double(text), v.isFinite, v >= 0, v <= 3600 else {
                    throw UsageError("--drain-delay takes a number of seconds between 0 and 3600, not '\(text)'")
                }
                result.options.drainDelay = v
            case "--detailed-errors":
                result.options.detailedErrors = true
            case "--jwt-key":
                result.options.jwtKey = try jwtKey(try value(flag, inline), source: "--jwt-key")
            case "--redirect-negotiate":
                result.options.redirectNegotiate = true
            case "--public-dir":
                result.options.publicDir = try value(flag, inline)
            case "--loops":
                let text = try value(flag, inline)
                if text == "auto" {
                    result.options.loops = ServerOptions.loopsPerCore
                } else {
                    guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(text), v >= 1, v <= 256 else {
                        throw UsageError("--loops takes a whole number between 1 and 256 or `auto`, not '\(text)'")
                    }
                    result.options.loops = v
                }
            case "--ws-echo":
                result.options.wsEcho = true
            case "--watch-peers":
                result.watchPeers = true
            case "--list-replicas":
                listReplicas = true
            default:
                throw UsageError(flag.hasPrefix("-") ? "unknown option '\(flag)' (see --help)" : "unexpected argument '\(flag)' (see --help)")
            }
            i += 1
        }
        if listReplicas { return .listReplicas(peersPath: result.peersPath) }
        guard let node, !node.isEmpty else { throw UsageError("--node ID is required (see --help)") }
        result.node = node
        result.options.nodeId = node
        return .run(result)
    }
}

extension ServerCommandLine {
    /// Checks a JWT signing key: HS256 wants at least 256 bits (what Microsoft.IdentityModel requires too).
    public static func jwtKey(_ text: String, source: String) throws(UsageError) -> [UInt8] {
        let key = Array(text.utf8)
        guard key.count >= 32 else {
            throw UsageError("\(source) must be at least 32 bytes (256 bits) for HS256, got \(key.count)")
        }
        return key
    }
}

extension ServerOptions: Equatable {
    public static func == (a: ServerOptions, b: ServerOptions) -> Bool {
        a.nodeId == b.nodeId && a.keepAliveInterval == b.keepAliveInterval && a.clientTimeout == b.clientTimeout
            && a.clientResultTimeout == b.clientResultTimeout
            && a.handshakeTimeout == b.handshakeTimeout && a.maxMessageSize == b.maxMessageSize
            && a.negotiateTimeout == b.negotiateTimeout && a.allowedOrigins == b.allowedOrigins
            && a.allowedHosts == b.allowedHosts && a.wsEcho == b.wsEcho
            && a.publicDir == b.publicDir && a.maxNegotiationsPerAddress == b.maxNegotiationsPerAddress
            && a.maxNegotiations == b.maxNegotiations && a.statusAccess == b.statusAccess && a.statusMaxAge == b.statusMaxAge
            && a.drainDelay == b.drainDelay && a.loops == b.loops
            && a.detailedErrors == b.detailedErrors && a.redirectNegotiate == b.redirectNegotiate && a.jwtKey == b.jwtKey
            && a.longPollTimeout == b.longPollTimeout && a.disconnectTimeout == b.disconnectTimeout
            && a.transports == b.transports
            && a.statefulReconnect == b.statefulReconnect && a.statefulReconnectBufferSize == b.statefulReconnectBufferSize
    }
}

public struct UsageError: Error, Equatable, CustomStringConvertible {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }
}
