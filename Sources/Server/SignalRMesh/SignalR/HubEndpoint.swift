import NetKit

/// One hub mapped at a path: negotiate, the WebSocket transport, the status codes of ASP.NET Core's
/// `HttpConnectionDispatcher`, and the connections' heartbeat.
final class HubEndpoint {
    let hub: Hub
    let options: ServerOptions
    let router: HubRouter
    let connections: ConnectionManager
    /// Rate limits the log lines clients can cause (shared by the loop).
    let throttledLog: ThrottledLog
    let authenticator: HubAuthenticator
    /// The hub's targets and groups, usable from any thread.
    let clients: HubClients
    let groups: HubGroups
    private(set) var active: [String: SignalRConnection] = [:]
    private var pending: [ObjectIdentifier: SignalRConnection] = [:]
    /// Long-polling transports by token, from their first poll (or POST) until they finish: after the connection
    /// closed they stay a while to answer polls with 204.
    var longPolls: [String: LongPollingTransport] = [:]
    /// Server-Sent Events transports by token, while their connection lives (their POSTs find them here).
    var eventStreams: [String: ServerSentEventsTransport] = [:]
    /// SSE sessions whose stream is on another replica (no sticky sessions): their POSTs come here.
    var remoteEventStreams: [String: RemoteTransport] = [:]
    let loop: EventLoop
    /// The time in nanoseconds (the loop's; tests inject their own).
    var clock: () -> UInt64
    /// Messages, invocations and connections, for `/metrics` (bumped by the connections).
    var counters = HubCounters()
    private let logger = Logger(label: "endpoint")
    /// Every open connection at its next deadline (``SignalRConnection/nextDeadline``): the heartbeat ticks only
    /// the connections that are due, not all of them.
    private var deadlines = DeadlineWheel<SignalRConnection>()
    /// The heartbeat's list of due connections, kept between ticks (no allocation per tick).
    private var due: [SignalRConnection] = []
    /// Connections the last ``tick(now:)`` ticked (tests: the heartbeat's work follows what is due).
    private(set) var lastTickVisits = 0

    init(
        hub: Hub, options: ServerOptions, router: HubRouter, loop: EventLoop, authenticator: HubAuthenticator,
        throttledLog: ThrottledLog
    ) {
        self.hub = hub
        self.options = options
        self.router = router
        self.throttledLog = throttledLog
        self.authenticator = authenticator
        self.loop = loop
        self.clock = { [loop] in loop.now }
        let sender = HubSender(loop: loop, router: router, hubName: hub.name, clientResultTimeout: hub.clientResultTimeout ?? .milliseconds(Int64(options.clientResultTimeout * 1000)))
        self.clients = HubClients(sender: sender)
        self.groups = HubGroups(sender: sender)
        self.connections = ConnectionManager(
            maxUnclaimed: options.maxNegotiations, maxUnclaimedPerSource: options.maxNegotiationsPerAddress,
            owners: router.owners)
        _ = router.hub(hub.name)
    }

    /// The transports this endpoint offers, in negotiate's order (``ServerOptions/transports``).
    var transports: [TransportDescription] {
        [TransportDescription.webSockets, .serverSentEvents, .longPolling].filter { options.transports.contains($0.name) }
    }

    func offers(_ kind: TransportKind) -> Bool { options.transports.contains(kind.rawValue) }

    /// The user a hub request authenticates as, or the 401 it gets (a hub that requires a user, and no valid token).
    func authenticate(_ request: HTTPRequest) -> Result<AuthenticatedUser, HTTPResponse> {
        let outcome = authenticator.authenticate(request)
        if let failure = outcome.failure {
            throttledLog.log(logger, .debug, kind: "bad-token", "token refused", ["reason": "\(failure)"])
        }
        guard hub.requiresUser, outcome.user.userId == nil else { return .success(outcome.user) }
        var response = HTTPResponse.text(401, "")
        response.headers.add(
            "WWW-Authenticate", outcome.failure == nil ? "Bearer" : "Bearer error=\"invalid_token\"")
        return .failure(response)
    }

    // MARK: HTTP

    /// `POST {hub}/negotiate` from a client at `source` (its per-address key). Errors in the version come back
    /// as HTTP 200 with `{"error":…}`, as ASP.NET does.
    func negotiate(_ request: HTTPRequest, source: String, now: UInt64) -> HTTPResponse {
        let user: AuthenticatedUser
        switch authenticate(request) {
        case .success(let u): user = u
        case .failure(let response): return response
        }
        let version: Int
        switch NegotiateVersion.resolve(request.queryValue("negotiateVersion")) {
        case .success(let v): version = v
        case .failure(let e): return .json(200, NegotiateResponse.error(e.message))
        }
        let (record, evicted) = connections.negotiate(version: version, source: source, now: now)
        record.user = user
        record.useStatefulReconnect = options.statefulReconnect && Self.asksForStatefulReconnect(request)
        switch evicted {
        case .sourceAtCap?:
            throttledLog.warning(logger, kind: "negotiate-source-cap",
                "negotiations at the per-address cap: dropped the address's oldest",
                ["source": source, "limit": "\(connections.maxUnclaimedPerSource)"])
        case .tableFull?:
            throttledLog.warning(logger, kind: "negotiate-table-full",
                "negotiations at the cap: dropped the oldest", ["limit": "\(connections.maxUnclaimed)"])
        case nil:
            break
        }
        let body = NegotiateResponse.body(
            version: version, connectionId: record.connectionId, connectionToken: record.token, transports: transports,
            useStatefulReconnect: record.useStatefulReconnect)
        return .json(200, body)
    }

    /// `useStatefulReconnect=true` in the negotiate query (key in any case; the value as .NET's `bool.TryParse`
    /// reads it: `true` in any case, surrounding whitespace allowed).
    static func asksForStatefulReconnect(_ request: HTTPRequest) -> Bool {
        guard let value = request.queryValue("useStatefulReconnect") else { return false }
        return value.trimmingASCIIWhitespace().lowercased() == "true"
    }

    /// Decides on a WebSocket upgrade: the connection record to use, or the error response.
    /// The WebSocket request's own token counts; without one, the negotiate request's (browsers send it on both).
    func claimForWebSocket(_ request: HTTPRequest, now: UInt64) -> Result<ConnectionManager.Record, HTTPResponse> {
        guard let id = request.queryValue("id"), !id.isEmpty else {
            guard offers(.webSockets) else { return .failure(Self.notOffered(.webSockets)) }
            // skipNegotiation: this request is the only one that can carry a token.
            let user: AuthenticatedUser
            switch authenticate(request) {
            case .success(let u): user = u
            case .failure(let response): return .failure(response)
            }
            let record = connections.createClaimed(now: now)
            record.user = user
            return .success(record)
        }
        if longPolls[id] != nil { return .failure(.text(400, Self.cannotChangeTransports)) }
        guard let record = connections.lookup(token: id) else { return .failure(.text(404, "No Connection with that ID")) }
        guard offers(.webSockets) else { return .failure(Self.notOffered(.webSockets)) }
        switch record.transport {
        case .webSockets?:
            // A stateful-reconnect connection takes a new WebSocket (its client coming back, the old one being
            // dropped or about to be), as ASP.NET Core does; any other second WebSocket is refused.
            guard active[record.connectionId]?.canReattach == true else {
                return .failure(.text(409, "Connection already has an active WebSocket"))
            }
        case .some: return .failure(.text(400, Self.cannotChangeTransports))
        case nil: break
        }
        if authenticator.hasToken(request) {
            switch authenticate(request) {
            case .success(let u): record.user = u
            case .failure(let response): return .failure(response)
            }
        }
        connections.claim(record)
        return .success(record)
    }

    func accept(record: ConnectionManager.Record, transport: any HubTransport, leftover: [UInt8], now: UInt64) {
        if let existing = active[record.connectionId], existing.token == record.token, existing.canReattach {
            existing.reattach(transport, leftover: leftover)
            return
        }
        let connection = SignalRConnection(
            connectionId: record.connectionId, token: record.token, endpoint: self, transport: transport, user: record.user?.userId,
            claims: record.user?.claims, statefulReconnect: record.useStatefulReconnect, now: now)
        pending[ObjectIdentifier(connection)] = connection
        reschedule(connection)
        connection.start(leftover: leftover)
    }

    // MARK: Lifecycle (called by SignalRConnection)

    func connected(_ connection: SignalRConnection) {
        pending[ObjectIdentifier(connection)] = nil
        active[connection.connectionId] = connection
        reschedule(connection)
        counters.opened[HubCounters.slot(connection.transport.kind, connection.hubProtocol.kind)] &+= 1
        router.connected(connection, hub: hub.name, user: connection.userId, protocol: connection.hubProtocol.kind)
        connection.logger.debug("connection opened", connection.eventFields)
        connection.runConnectedHook()
    }

    /// - Parameter reason: why it ended, for the `connection closed` line.
    func disconnected(_ connection: SignalRConnection, wasActive: Bool, error: (any Error)?, reason: String) {
        connection.endStreams()
        unschedule(connection)
        pending[ObjectIdentifier(connection)] = nil
        eventStreams[connection.token] = nil
        remoteEventStreams[connection.token] = nil
        connections.remove(token: connection.token)
        guard wasActive, active[connection.connectionId] === connection else { return }
        active[connection.connectionId] = nil
        router.disconnected(connection, hub: hub.name)
        if connection.logger.isEnabled(.debug) {
            var fields = connection.eventFields
            fields["reason"] = reason
            if let opened = connection.openedAt, clock() >= opened {
                fields["duration"] = String(format: "%.3fs", Double(clock() - opened) / 1e9)
            }
            connection.logger.debug("connection closed", fields)
        }
        if let hook = hub.disconnectedHook {
            let caller = connection.caller
            Task { await hook(caller, error) }
        }
    }

    var connectionCount: Int { active.count + pending.count }

    /// The heartbeat (once a second): negotiations that were never claimed expire; the connections whose deadline
    /// has come are ticked and put back at their next one; long polls get their poll and inactivity timeouts
    /// (walked all: they are few, and each tick is one comparison when nothing is due).
    func tick(now: UInt64) {
        connections.sweep(now: now, timeoutNanos: UInt64(options.negotiateTimeout * 1e9))
        deadlines.expire(now: now, into: &due)
        lastTickVisits = due.count
        // All out of the wheel before any runs: a tick that touches another due connection finds no stale handle.
        for c in due { c.deadlineHandle = .none }
        for c in due {
            c.tick(now: now)
            reschedule(c)
        }
        due.removeAll(keepingCapacity: true)
        for t in Array(longPolls.values) { t.tick() }
    }

    /// Puts `connection` in the heartbeat's wheel at its ``SignalRConnection/nextDeadline`` (out of it once closed).
    /// Called when a connection's deadline may have moved earlier: opened, handshake done, client away or back,
    /// first read after its parser's buffers went back.
    func reschedule(_ connection: SignalRConnection) {
        guard let deadline = connection.nextDeadline else { return unschedule(connection) }
        if connection.deadlineHandle.isNone {
            connection.deadlineHandle = deadlines.insert(connection, deadline: deadline)
        } else if deadlines.deadline(of: connection.deadlineHandle) != deadline {
            deadlines.move(connection.deadlineHandle, to: deadline)
        }
    }

    private func unschedule(_ connection: SignalRConnection) {
        deadlines.remove(connection.deadlineHandle)
        connection.deadlineHandle = .none
    }

    /// Connections in the heartbeat's wheel (tests).
    var scheduledCount: Int { deadlines.count }

    /// Graceful shutdown: every client is told to reconnect (to another replica, or to this one once it's back).
    func closeAll(allowReconnect: Bool) {
        for c in Array(active.values) { c.close(error: nil, allowReconnect: allowReconnect, reason: "server shutting down") }
        for c in Array(pending.values) { c.transport.close() }
    }
}
