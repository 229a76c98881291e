import Foundation
import NetKit

/// The replica's HTTP side on one event loop: keep-alive HTTP/1.1 with pipelining, the hub endpoints, the raw
/// WebSocket echo endpoint, the status endpoints (`/api/mesh`, `/metrics`, `/healthz`, `/readyz`), and the static
/// web client.
public final class HTTPServer {
    let loop: EventLoop
    let options: ServerOptions
    let logger = Logger(label: "http")
    private(set) var endpoints: [HubEndpoint] = []
    private var listener: TCPListener?
    private var httpConnections: [ObjectIdentifier: HTTPConnection] = [:]
    private var echoSessions: [ObjectIdentifier: WebSocketSession] = [:]
    /// Upgraded sockets still open, so shutdown can wait until the close handshakes are done.
    public private(set) var openWebSockets = 0
    private let staticFiles: StaticFiles?
    private var staticCache: [String: (body: [UInt8], type: String)] = [:]
    private var tickTimer: TimerID?
    /// Renders `GET /api/mesh` (set by whoever owns the mesh).
    public var meshStatus: (() -> [UInt8])? {
        didSet { statusCache.invalidate() }
    }
    /// Renders `GET /metrics` (set by whoever owns the mesh).
    public var metrics: (() -> [UInt8])? {
        didSet { metricsCache.invalidate() }
    }
    /// Answers `GET /readyz`: 200 with `ready`, else 503 with the reason (set by whoever owns the mesh; nil: ready
    /// while serving).
    public var readiness: (() -> (ready: Bool, text: String))?
    /// Serves transport requests for connections owned by other replicas (set by whoever owns the mesh).
    var forwarder: TransportForwarder?
    /// `--redirect-negotiate`: sends negotiates to the live replicas in turn (set by whoever owns the mesh).
    var negotiateRedirector: NegotiateRedirector?
    /// The last rendering of `/api/mesh`, served again for `statusMaxAge`.
    private var statusCache: StatusCache
    /// The last rendering of `/metrics`, served again for `statusMaxAge`.
    private var metricsCache: StatusCache
    public private(set) var isShuttingDown = false
    /// Rate limits the log lines clients can cause, for everything on this loop.
    let throttledLog: ThrottledLog
    /// Spreads accepted sockets over more loops (`--loops`; set before ``start(address:)``); nil: all on `loop`.
    var ioLoops: IOLoopGroup?
    /// Whether the listener is bound to a loopback address (decides the default of `allowedHosts`); set by `start`.
    private(set) var listenerIsLoopback = false

    public init(loop: EventLoop, options: ServerOptions) {
        self.loop = loop
        self.options = options
        let root = options.publicDir ?? BundledWebClient.publicDirectory()
        staticFiles = root.map { StaticFiles(root: $0) }
        if root == nil { logger.warning(BundledWebClient.missingText) }
        throttledLog = ThrottledLog(clock: { [loop] in loop.now })
        statusCache = StatusCache(maxAgeNanos: UInt64(options.statusMaxAge * 1e9))
        metricsCache = StatusCache(maxAgeNanos: UInt64(options.statusMaxAge * 1e9))
    }

    /// Serves `hub` at its path, its messages routed by `router`. Loop thread, before ``start(address:)``.
    func addHub(_ hub: Hub, router: HubRouter, authenticator: HubAuthenticator) {
        precondition(!endpoints.contains { $0.hub.path.lowercased() == hub.path.lowercased() }, "two hubs at \(hub.path)")
        endpoints.append(
            HubEndpoint(
                hub: hub, options: options, router: router, loop: loop, authenticator: authenticator,
                throttledLog: throttledLog))
    }

    /// The endpoint serving the hub named `name`.
    func endpoint(named name: String) -> HubEndpoint? { endpoints.first { $0.hub.name == name } }

    /// Binds and starts serving. Loop thread only.
    public func start(address: SocketAddress) throws -> SocketAddress {
        let listener = try TCPListener(loop: loop, address: address, spread: ioLoops) { [unowned self] conn in self.accepted(conn) }
        self.listener = listener
        listenerIsLoopback = HostPolicy.isLoopbackListener(listener.localAddress.host)
        let timeouts = [options.keepAliveInterval, options.clientTimeout, options.handshakeTimeout, options.negotiateTimeout]
        let interval = max(0.05, min(1.0, (timeouts.min() ?? 1) / 4))
        tickTimer = loop.scheduleRepeating(everyNanos: UInt64(interval * 1e9)) { [unowned self] in self.tick() }
        return listener.localAddress
    }

    private func accepted(_ conn: TCPConnection) {
        guard !isShuttingDown else {
            conn.abort()
            return
        }
        let http = HTTPConnection(server: self, conn: conn)
        httpConnections[ObjectIdentifier(http)] = http
        http.start()
    }

    func forget(_ http: HTTPConnection) {
        httpConnections[ObjectIdentifier(http)] = nil
    }

    private func tick() {
        let now = loop.now
        for e in endpoints { e.tick(now: now) }
        for h in Array(httpConnections.values) { h.tick(now: now) }
        throttledLog.flush()
    }

    /// Counts for logs and tests.
    public var stats: (http: Int, hub: Int, echo: Int) {
        (httpConnections.count, endpoints.reduce(0) { $0 + $1.connectionCount }, echoSessions.count)
    }

    /// Stops accepting, tells every hub client to reconnect (Close with allowReconnect), closes the rest.
    public func shutdown() {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        listener?.close()
        if let t = tickTimer { loop.cancel(t) }
        for e in endpoints { e.closeAll(allowReconnect: true) }
        for s in echoSessions.values { s.close(code: 1001, reason: "server shutting down") }
        for h in Array(httpConnections.values) { h.conn.close() }
    }

    // MARK: Routing

    enum Outcome {
        case response(HTTPResponse)
        /// The socket belongs to something else now (a WebSocket, a Server-Sent Events stream).
        case upgraded
        /// Answered later through ``HTTPConnection/finishDeferred(_:for:)`` (a long poll); the requests behind
        /// it wait.
        case deferred
    }

    func route(_ request: HTTPRequest, http: HTTPConnection) -> Outcome {
        let now = loop.now
        if let refused = refuseForeignHost(request, http: http) { return .response(refused) }
        let path = request.path
        let lower = path.lowercased()
        if let endpoint = endpoints.first(where: { lower == $0.hub.path.lowercased() || lower == $0.hub.path.lowercased() + "/" }) {
            return hubRequest(request, endpoint: endpoint, http: http, now: now)
        }
        if let endpoint = endpoints.first(where: { lower == $0.hub.path.lowercased() + "/negotiate" }) {
            if CORS.isPreflight(request) { return .response(CORS.preflightResponse(for: request, policy: options.allowedOrigins)) }
            if let refused = refuseForeignOrigin(request, http: http) { return .response(refused) }
            guard request.method == "POST" else {
                var r = HTTPResponse.text(405, "Method Not Allowed")
                r.headers.add("Allow", "POST")
                return .response(withCORS(r, request))
            }
            if let redirector = negotiateRedirector,
                let body = redirector.redirect(
                    request, hubPath: endpoint.hub.path, bearerToken: endpoint.authenticator.token(request))
            {
                return .response(withCORS(.json(200, body), request))
            }
            let source = http.conn.remoteAddress.map { LoopbackAddress.sourceKey($0.host) } ?? "unknown"
            return .response(withCORS(endpoint.negotiate(request, source: source, now: now), request))
        }
        if options.wsEcho && lower == "/ws-echo" {
            return echoRequest(request, http: http)
        }
        if lower == "/api/mesh" {
            return .response(meshStatusRequest(request, http: http, now: now))
        }
        if lower == "/metrics" || lower == "/healthz" || lower == "/readyz" {
            return .response(probeRequest(request, path: lower, http: http, now: now))
        }
        return .response(staticFile(request))
    }

    /// The access rule of the status endpoints (`--status-access`, by the socket's peer address): nil when the
    /// client may read `path`, else the answer it gets.
    private func refuseStatus(_ request: HTTPRequest, path: String, http: HTTPConnection) -> HTTPResponse? {
        switch options.statusAccess.decide(peer: http.conn.remoteAddress) {
        case .allow:
            return nil
        case .notFound:
            return .text(404, "Not Found")
        case .forbidden:
            throttledLog.info(logger, kind: "status-forbidden",
                "request refused: status endpoint is for local clients",
                ["path": path, "remote": http.conn.remoteAddress?.description ?? "?", "see": "--status-access"])
            return withCORS(.text(403, "Forbidden: \(path) is only served to clients on this machine (--status-access)"), request)
        }
    }

    /// `GET /api/mesh`: the access rule, then the cached rendering.
    private func meshStatusRequest(_ request: HTTPRequest, http: HTTPConnection, now: UInt64) -> HTTPResponse {
        if let refused = refuseStatus(request, path: "/api/mesh", http: http) { return refused }
        if CORS.isPreflight(request) { return CORS.preflightResponse(for: request, policy: options.allowedOrigins) }
        guard request.method == "GET" || request.method == "HEAD" else { return .text(405, "Method Not Allowed") }
        guard let render = meshStatus else { return .text(404, "Not Found") }
        var r = HTTPResponse.json(200, statusCache.body(now: now, build: render))
        r.headers.add("Cache-Control", "no-store")
        return withCORS(r, request)
    }

    /// `GET /metrics` (the cached Prometheus page), `/healthz` (200 `ok` while the process serves) and `/readyz`
    /// (200 `ready`, or 503 and why not): the access rule first, as for `/api/mesh`.
    private func probeRequest(_ request: HTTPRequest, path: String, http: HTTPConnection, now: UInt64) -> HTTPResponse {
        if let refused = refuseStatus(request, path: path, http: http) { return refused }
        guard request.method == "GET" || request.method == "HEAD" else {
            var r = HTTPResponse.text(405, "Method Not Allowed")
            r.headers.add("Allow", "GET, HEAD")
            return r
        }
        var r: HTTPResponse
        switch path {
        case "/metrics":
            guard let render = metrics else { return .text(404, "Not Found") }
            r = HTTPResponse(status: 200, body: metricsCache.body(now: now, build: render))
            r.headers.add("Content-Type", PrometheusText.contentType)
        case "/readyz":
            let state = readiness?() ?? (ready: true, text: "ready")
            r = .text(state.ready ? 200 : 503, state.text)
        default:
            r = .text(200, "ok")
        }
        r.headers.add("Cache-Control", "no-store")
        return r
    }

    func withCORS(_ response: HTTPResponse, _ request: HTTPRequest) -> HTTPResponse {
        var r = response
        for (k, v) in CORS.responseHeaders(for: request, policy: options.allowedOrigins) { r.headers.add(k, v) }
        return r
    }

    /// Any request whose `Host` names none of our names gets 403 before it is routed: a DNS-rebound page would
    /// otherwise be "same origin" with us for the browser, past CORS and the Origin check. See ``HostPolicy``.
    private func refuseForeignHost(_ request: HTTPRequest, http: HTTPConnection) -> HTTPResponse? {
        let host = request.headers["Host"]
        guard !options.allowedHosts.allows(host, listenerIsLoopback: listenerIsLoopback) else { return nil }
        throttledLog.warning(logger, kind: "refused-host", "request refused: unknown Host",
            Self.refusedHostFields(method: request.method, path: request.path, host: host, peer: http.conn.remoteAddress))
        return .text(403, "Forbidden: unknown Host (see --allowed-hosts)")
    }

    /// The fields of a refused Host's line (a DNS rebinding guard): every client-supplied part cut short (the
    /// formatter escapes it). No query string: it may hold a token.
    static func refusedHostFields(method: String, path: String, host: String?, peer: SocketAddress?) -> [String: String] {
        [
            "method": LogText.cut(method, limit: 16), "path": LogText.cut(path), "host": host.map { LogText.cut($0) } ?? "",
            "remote": peer?.description ?? "?", "see": "--allowed-hosts",
        ]
    }

    /// A hub request (negotiate, WebSocket, or any other) whose `Origin` is present and not allowed gets 403
    /// before anything is created: CORS only stops a foreign page from *reading* the answer, not from making a
    /// simple POST, and it doesn't cover WebSockets at all. Non-browser clients send no Origin and are let in.
    private func refuseForeignOrigin(_ request: HTTPRequest, http: HTTPConnection) -> HTTPResponse? {
        guard let origin = request.headers["Origin"], !options.allowedOrigins.allows(origin, requestHost: request.headers["Host"])
        else { return nil }
        throttledLog.info(logger, kind: "refused-origin", "request refused: Origin not allowed",
            Self.refusedOriginFields(method: request.method, path: request.path, origin: origin, peer: http.conn.remoteAddress))
        return .text(403, "Origin not allowed")
    }

    /// The fields of a refused Origin's line: every client-supplied part cut short (the formatter escapes it).
    static func refusedOriginFields(method: String, path: String, origin: String, peer: SocketAddress?) -> [String: String] {
        [
            "method": LogText.cut(method, limit: 16), "path": LogText.cut(path), "origin": LogText.cut(origin),
            "remote": peer?.description ?? "?", "see": "--allowed-origins",
        ]
    }

    private func hubRequest(_ request: HTTPRequest, endpoint: HubEndpoint, http: HTTPConnection, now: UInt64) -> Outcome {
        if CORS.isPreflight(request) { return .response(CORS.preflightResponse(for: request, policy: options.allowedOrigins)) }
        if let refused = refuseForeignOrigin(request, http: http) { return .response(refused) }
        if let forwarder, let token = request.queryValue("id"), !token.isEmpty,
            let owner = forwarder.remoteOwner(ofToken: token, endpoint: endpoint)
        {
            return forwarder.forward(request, endpoint: endpoint, http: http, owner: owner, token: token)
        }
        guard request.isWebSocketUpgrade else {
            return transportRequest(request, endpoint: endpoint, http: http, now: now)
        }
        let key: String
        switch validateUpgrade(request) {
        case .success(let k): key = k
        case .failure(let r): return .response(r)
        }
        let record: ConnectionManager.Record
        switch endpoint.claimForWebSocket(request, now: now) {
        case .success(let r): record = r
        case .failure(let response): return .response(response)
        }
        // The WebSocket streams: it hands each frame's payload to the hub's 0x1E framer as it arrives, so one hub
        // connection holds at most about maxMessageSize (+ one read) whatever the WebSocket message size, several
        // hub messages may share a WebSocket message, and one may span many frames, as with ASP.NET Core. The hub
        // enforces maxMessageSize and answers with its Close message; the WebSocket layer has no size limit of its own.
        let ws = upgrade(http: http, key: key, limits: WebSocketLimits(maxFrameSize: .max, maxMessageSize: .max), streaming: true)
        ws.conn.maxPendingWriteBytes = options.maxPendingBytesPerConnection
        endpoint.accept(record: record, transport: ws, leftover: http.parser.takeBufferedBytes(), now: now)
        return .upgraded
    }

    private func echoRequest(_ request: HTTPRequest, http: HTTPConnection) -> Outcome {
        guard request.isWebSocketUpgrade else { return .response(.text(400, "WebSocket upgrade required")) }
        let key: String
        switch validateUpgrade(request) {
        case .success(let k): key = k
        case .failure(let r): return .response(r)
        }
        let ws = upgrade(http: http, key: key, limits: WebSocketLimits(maxFrameSize: options.echoMaxMessageSize, maxMessageSize: options.echoMaxMessageSize))
        ws.conn.maxPendingWriteBytes = 4 * options.echoMaxMessageSize
        let id = ObjectIdentifier(ws)
        echoSessions[id] = ws
        ws.onText = { [weak ws] payload in ws?.sendFrame(.text, payload) }
        ws.onBinary = { [weak ws] payload in ws?.sendFrame(.binary, payload) }
        ws.onClosed = { [unowned self] _ in self.echoSessions[id] = nil }
        ws.start(leftover: http.parser.takeBufferedBytes())
        return .upgraded
    }

    func validateUpgrade(_ request: HTTPRequest) -> Result<String, HTTPResponse> {
        let result = WebSocketHandshake.validateRequest(
            method: request.method, versionIsHTTP11: request.version == HTTPVersion(major: 1, minor: 1),
            header: { request.headers[$0] },
            tokens: { name in
                request.headers.values(name).flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            })
        switch result {
        case .success(let key): return .success(key)
        case .failure(let e):
            var r = HTTPResponse.text(e.status, e.message)
            if e.status == 426 { r.headers.add("Sec-WebSocket-Version", "13") }
            return .failure(r)
        }
    }

    /// Writes the 101 and hands the socket from HTTP to a WebSocket session.
    private func upgrade(http: HTTPConnection, key: String, limits: WebSocketLimits, streaming: Bool = false) -> WebSocketSession {
        var headers = HTTPHeaders()
        headers.add("Upgrade", "websocket")
        headers.add("Connection", "Upgrade")
        headers.add("Sec-WebSocket-Accept", WebSocketHandshake.acceptValue(forKey: key))
        http.conn.write(HTTPResponse(status: 101, headers: headers).serialize(keepAlive: true))
        http.detach()
        openWebSockets += 1
        let session = WebSocketSession(
            conn: http.conn, limits: limits, closeTimeout: options.webSocketCloseTimeout, logger: logger, streaming: streaming)
        // A strong capture of the server alone needs no closure context (an unowned one allocates 24 bytes per
        // connection); the session lets go of it when its transport is gone.
        session.onTransportGone = { self.openWebSockets -= 1 }
        return session
    }

    /// Writes the 101 on a socket already taken from HTTP (a forwarded WebSocket) and starts a streaming session.
    func acceptWebSocket(conn: TCPConnection, key: String, extraHeaders: [(String, String)]) -> WebSocketSession {
        var headers = HTTPHeaders()
        headers.add("Upgrade", "websocket")
        headers.add("Connection", "Upgrade")
        headers.add("Sec-WebSocket-Accept", WebSocketHandshake.acceptValue(forKey: key))
        conn.write(HTTPResponse(status: 101, headers: headers).serialize(keepAlive: true))
        openWebSockets += 1
        conn.maxPendingWriteBytes = options.maxPendingBytesPerConnection
        let session = WebSocketSession(
            conn: conn, limits: WebSocketLimits(maxFrameSize: .max, maxMessageSize: .max),
            closeTimeout: options.webSocketCloseTimeout, logger: logger, streaming: true)
        session.onTransportGone = { [unowned self] in self.openWebSockets -= 1 }
        return session
    }

    private func staticFile(_ request: HTTPRequest) -> HTTPResponse {
        guard let files = staticFiles, let found = files.resolve(urlPath: request.path) else {
            return .text(404, "Not Found")
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            var r = HTTPResponse.text(405, "Method Not Allowed")
            r.headers.add("Allow", "GET, HEAD")
            return r
        }
        let body: [UInt8]
        if let cached = staticCache[found.path] {
            body = cached.body
        } else {
            guard let data = FileManager.default.contents(atPath: found.path) else { return .text(404, "Not Found") }
            body = [UInt8](data)
            if body.count <= 1 << 20 && staticCache.count < 256 { staticCache[found.path] = (body, found.contentType) }
        }
        var r = HTTPResponse(status: 200, body: body)
        r.headers.add("Content-Type", found.contentType)
        r.headers.add("Cache-Control", "no-cache")
        r.headers.add("X-Content-Type-Options", "nosniff")
        return r
    }
}

/// An HTTP/1.1 connection until (and unless) it upgrades: parses requests in order, answers each, enforces the
/// header-read and idle timeouts, and turns parse errors into the right status followed by a close.
final class HTTPConnection {
    unowned let server: HTTPServer
    let conn: TCPConnection
    var parser: HTTPRequestParser
    private var lastActivity: UInt64
    private var requestStartedAt: UInt64?
    private var detached = false
    private var servedAny = false
    /// The long poll whose answer the connection waits for (reads are paused meanwhile).
    private var deferred: HTTPPollResponder?
    private var processing = false

    init(server: HTTPServer, conn: TCPConnection) {
        self.server = server
        self.conn = conn
        self.parser = HTTPRequestParser(limits: server.options.httpLimits)
        self.lastActivity = conn.loop.now
    }

    func start() {
        conn.maxPendingWriteBytes = 8 << 20
        // The socket owns its handler until it finishes (it drops its callbacks then) or a WebSocket takes over.
        conn.onRead = { bytes in self.received(bytes) }
        // Weak: a test (or shutdown) may drop the server before a closing socket reports its end.
        conn.onClose = { [weak server = self.server] _ in
            server?.forget(self)
            let waiting = self.deferred
            self.deferred = nil
            waiting?.connectionGone()
        }
    }

    /// The request being handled will be answered later by `responder`: stop reading (the requests behind it
    /// wait in the kernel's buffer; a close from the client is still noticed).
    func beginDeferred(_ responder: HTTPPollResponder) {
        deferred = responder
        conn.pauseReading()
    }

    /// The deferred answer: written, then the requests behind it are served.
    func finishDeferred(_ response: HTTPResponse, for request: HTTPRequest) {
        guard deferred != nil, !detached else { return }
        deferred = nil
        lastActivity = conn.loop.now
        guard conn.isOpen else { return }
        let keepAlive = request.keepAlive && !server.isShuttingDown
        conn.write(response.serialize(keepAlive: keepAlive, headOnly: request.method == "HEAD", requestVersion: request.version))
        if !keepAlive {
            conn.close()
            return
        }
        conn.resumeReading()
        if !processing { processBuffered() }
    }

    /// The socket now belongs to a WebSocket session.
    func detach() {
        detached = true
        server.forget(self)
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        let now = conn.loop.now
        lastActivity = now
        parser.append(bytes)
        processBuffered()
    }

    private func processBuffered() {
        processing = true
        defer { processing = false }
        let now = conn.loop.now
        while !detached && deferred == nil && conn.isOpen {
            let request: HTTPRequest?
            do {
                request = try parser.nextRequest()
            } catch let error as HTTPParseError {
                fail(status: error.status, message: error.message)
                return
            } catch {
                fail(status: 400, message: "Bad Request")
                return
            }
            guard let request else {
                if parser.takeExpectContinue() {
                    conn.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
                if parser.hasPartialRequest {
                    if requestStartedAt == nil { requestStartedAt = now }
                } else {
                    requestStartedAt = nil
                }
                return
            }
            requestStartedAt = nil
            servedAny = true
            handle(request)
        }
    }

    private func handle(_ request: HTTPRequest) {
        switch server.route(request, http: self) {
        case .upgraded, .deferred:
            return
        case .response(let response):
            let keepAlive = request.keepAlive && !server.isShuttingDown
            conn.write(response.serialize(keepAlive: keepAlive, headOnly: request.method == "HEAD", requestVersion: request.version))
            if !keepAlive { conn.close() }
        }
    }

    private func fail(status: Int, message: String) {
        server.logger.debug(
            "bad request", ["remote": conn.remoteAddress?.description ?? "?", "status": "\(status)", "reason": message])
        conn.write(HTTPResponse.text(status, message).serialize(keepAlive: false))
        conn.close()
    }

    func tick(now: UInt64) {
        // A connection waiting for its long poll's answer is busy, not idle: the poll timeout bounds the wait.
        guard !detached, deferred == nil, conn.isOpen else { return }
        if let started = requestStartedAt, now &- started >= UInt64(server.options.requestHeadersTimeout * 1e9) {
            fail(status: 408, message: "Request Timeout")
            return
        }
        // Before the first request the header timeout applies: a socket that connects and says nothing is a slowloris.
        let idleLimit = servedAny ? server.options.httpIdleTimeout : server.options.requestHeadersTimeout
        if requestStartedAt == nil && now &- lastActivity >= UInt64(idleLimit * 1e9) {
            conn.close()
        }
    }
}
