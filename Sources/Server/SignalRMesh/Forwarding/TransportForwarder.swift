import NetKit

/// No sticky sessions: a transport request (WebSocket, SSE, long-poll, POST, DELETE) whose connection token was
/// issued by another replica is served here by relaying it over the backplane to that replica (the owner), which
/// keeps the connection (its hub state, groups, protocol) as if the client were its own. Tokens name their owner
/// with the same tag as connection ids (``ConnectionOwners``).
///
/// Both roles live here: the *front* (the replica the client reached) holds the socket (``FrontSession``); the
/// *owner* runs the connection over a ``RemoteTransport``. Every wait is bounded, and when either side becomes
/// unreachable its sessions end (the client reconnects, with stateful reconnect where it negotiated it).
/// Confined to the replica's loop.
final class TransportForwarder {
    unowned let server: HTTPServer
    let router: HubRouter
    /// How long a front waits for the owner to accept a session or answer a POST/DELETE; a poll waits this long
    /// more than the poll timeout.
    var answerTimeoutNanos: UInt64 = 10_000_000_000
    var pollTimeoutNanos: UInt64 = 90_000_000_000

    private var nextId: UInt64 = 0
    private var fronts: [UInt64: FrontSession] = [:]
    private struct RemoteKey: Hashable {
        var front: String
        var session: UInt64
    }
    private var remotes: [RemoteKey: RemoteTransport] = [:]
    /// Long polls from fronts, waiting here for data (released when the front's socket closes).
    private var remotePolls: [RemoteKey: RemotePollResponder] = [:]
    private let logger = Logger(label: "forward")

    init(server: HTTPServer, router: HubRouter) {
        self.server = server
        self.router = router
    }

    /// Sessions and requests in flight (tests, status).
    var frontCount: Int { fronts.count }
    var remoteCount: Int { remotes.count }

    /// The replica that owns `token` when it isn't this one and the token isn't known here; nil: serve it here.
    func remoteOwner(ofToken token: String, endpoint: HubEndpoint) -> String? {
        guard let owner = router.owners.owner(of: token), owner != router.replicaId,
            endpoint.connections.lookup(token: token) == nil
        else { return nil }
        return owner
    }

    func send(_ message: ForwardMessage, to replica: String) {
        router.publishRaw(message.encode(), to: replica)
    }

    // MARK: Front

    /// Takes a transport request for `owner`'s connection: the socket leaves HTTP and waits for the owner.
    func forward(_ request: HTTPRequest, endpoint: HubEndpoint, http: HTTPConnection, owner: String, token: String)
        -> HTTPServer.Outcome
    {
        let kind: FrontSession.Kind
        if request.isWebSocketUpgrade {
            switch server.validateUpgrade(request) {
            case .success(let key): kind = .webSocket(key: key)
            case .failure(let response): return .response(response)
            }
        } else {
            switch request.method {
            case "GET":
                let accept = request.headers["Accept"] ?? ""
                kind = accept.contains("text/event-stream") ? .serverSentEvents : .request(.poll)
            case "POST": kind = .request(.send)
            case "DELETE": kind = .request(.delete)
            default:
                var r = HTTPResponse.text(405, "Method Not Allowed")
                r.headers.add("Allow", "GET, POST, DELETE")
                return .response(r)
            }
        }
        if endpoint.authenticator.hasToken(request), case .failure(let response) = endpoint.authenticate(request) {
            return .response(response)
        }
        guard router.isReachable(owner) else { return .response(.text(404, "No Connection with that ID")) }
        if case .request = kind, request.body.count > ForwardMessage.maxBodyBytes {
            return .response(.text(413, "Payload Too Large"))
        }
        nextId &+= 1
        let id = nextId
        let conn = http.conn
        http.detach()
        let front = FrontSession(
            id: id, owner: owner, kind: kind, conn: conn,
            corsHeaders: CORS.responseHeaders(for: request, policy: server.options.allowedOrigins))
        fronts[id] = front
        // Nothing more is read as HTTP; the socket closing ends the session.
        conn.onRead = { _ in }
        conn.onClose = { [weak self] _ in self?.frontSocketClosed(id) }
        let hub = endpoint.hub.name
        let wait: UInt64
        switch kind {
        case .webSocket:
            send(.open(request: id, hub: hub, token: token, transport: .webSockets), to: owner)
            wait = answerTimeoutNanos
        case .serverSentEvents:
            send(.open(request: id, hub: hub, token: token, transport: .serverSentEvents), to: owner)
            wait = answerTimeoutNanos
        case .request(let method):
            send(.http(request: id, hub: hub, token: token, method: method, body: request.body), to: owner)
            wait = method == .poll ? pollTimeoutNanos + answerTimeoutNanos : answerTimeoutNanos
        }
        front.timer = server.loop.schedule(afterNanos: wait) { [weak self] in self?.timedOut(id) }
        return .upgraded
    }

    private func timedOut(_ id: UInt64) {
        guard let front = fronts[id], !front.established else { return }
        front.timer = nil
        logger.debug("forwarded request timed out", ["owner": front.owner])
        if case .request(.poll) = front.kind {
            finish(front, HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")])))
        } else {
            finish(front, .text(503, "The connection's replica did not answer."))
        }
    }

    /// Answers a front that is not (or no longer) a session, and closes its socket.
    private func finish(_ front: FrontSession, _ response: HTTPResponse) {
        fronts[front.id] = nil
        if let t = front.timer { server.loop.cancel(t) }
        var r = response
        for (k, v) in front.corsHeaders { r.headers.add(k, v) }
        front.conn.onClose = nil
        front.conn.write(r.serialize(keepAlive: false))
        front.conn.close()
    }

    private func frontSocketClosed(_ id: UInt64) {
        guard let front = fronts.removeValue(forKey: id) else { return }
        if let t = front.timer { server.loop.cancel(t) }
        switch front.kind {
        case .webSocket, .serverSentEvents:
            send(.close(session: id, toOwner: true, clean: front.ws?.closedByClient ?? false), to: front.owner)
        case .request:
            send(.close(session: id, toOwner: true), to: front.owner)  // a waiting poll is released
        }
    }

    private func opened(_ id: UInt64, status: Int, text: String, from owner: String) {
        guard let front = fronts[id], front.owner == owner, !front.established else { return }
        if let t = front.timer { server.loop.cancel(t) }
        front.timer = nil
        guard status == 0 else { return finish(front, .text(status, text)) }
        front.established = true
        switch front.kind {
        case .webSocket(let key):
            let ws = server.acceptWebSocket(conn: front.conn, key: key, extraHeaders: front.corsHeaders)
            front.ws = ws
            ws.onChunk = { [weak self] bytes, _ in self?.send(.data(session: id, format: .text, bytes: bytes, toOwner: true), to: owner) }
            ws.onText = { [weak self] bytes in self?.send(.data(session: id, format: .text, bytes: bytes, toOwner: true), to: owner) }
            ws.onBinary = { [weak self] bytes in self?.send(.data(session: id, format: .binary, bytes: bytes, toOwner: true), to: owner) }
            ws.onClosed = { [weak self] _ in self?.frontSocketClosed(id) }
            ws.start(leftover: [])
        case .serverSentEvents:
            front.conn.write(ServerSentEventsTransport.responseHead(extra: front.corsHeaders, requestVersion: .http1_1))
            front.conn.write(ServerSentEvents.preamble)
        case .request:
            break
        }
    }

    private func frontData(_ id: UInt64, format: TransferFormat, bytes: [UInt8], from owner: String) {
        guard let front = fronts[id], front.owner == owner, front.established else { return }
        switch front.kind {
        case .webSocket:
            front.ws?.sendFrame(format == .text ? .text : .binary, bytes)
        case .serverSentEvents:
            front.conn.write(bytes.withUnsafeBytes { ServerSentEvents.event($0) })
        case .request:
            break
        }
    }

    private func frontClose(_ id: UInt64, from owner: String) {
        guard let front = fronts[id], front.owner == owner else { return }
        fronts[id] = nil
        if let t = front.timer { server.loop.cancel(t) }
        front.conn.onClose = nil
        if let ws = front.ws {
            ws.onClosed = nil
            ws.close(code: 1000, reason: "")
        } else {
            front.conn.close()
        }
    }

    private func replied(_ id: UInt64, status: Int, contentType: String, body: [UInt8], from owner: String) {
        guard let front = fronts[id], front.owner == owner, case .request(let method) = front.kind else { return }
        var headers = HTTPHeaders()
        if !contentType.isEmpty { headers.add("Content-Type", contentType) }
        if method == .poll {
            headers.add("Cache-Control", "no-cache, no-store")
            headers.add("Pragma", "no-cache")
            headers.add("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
        }
        finish(front, HTTPResponse(status: status, headers: headers, body: body))
    }

    // MARK: Owner

    private func open(_ request: UInt64, hub: String, token: String, transport kind: TransportKind, from front: String) {
        let answer: (Int, String) -> Void = { [self] status, text in
            send(.opened(request: request, status: status, text: text), to: front)
        }
        guard let endpoint = server.endpoint(named: hub) else { return answer(404, "No Connection with that ID") }
        switch endpoint.claimForwarded(token: token, transport: kind) {
        case .failure(let refusal):
            answer(refusal.status, refusal.text)
        case .success(let record):
            let transport = RemoteTransport(kind: kind, front: front, session: request, forwarder: self, loop: server.loop)
            remotes[RemoteKey(front: front, session: request)] = transport
            if kind == .serverSentEvents { endpoint.remoteEventStreams[record.token] = transport }
            answer(0, "")
            endpoint.accept(record: record, transport: transport, leftover: [], now: server.loop.now)
        }
    }

    private func request(
        _ request: UInt64, hub: String, token: String, method: ForwardedMethod, body: [UInt8], from front: String
    ) {
        let reply: (Int, String, [UInt8]) -> Void = { [self] status, contentType, body in
            send(.reply(request: request, status: status, contentType: contentType, body: body), to: front)
        }
        guard let endpoint = server.endpoint(named: hub) else {
            return reply(404, "text/plain; charset=utf-8", Array("No Connection with that ID".utf8))
        }
        let now = server.loop.now
        switch method {
        case .poll:
            let key = RemoteKey(front: front, session: request)
            let responder = RemotePollResponder { [weak self] status, contentType, body in
                self?.remotePolls[key] = nil
                reply(status, contentType ?? "", body)
            }
            remotePolls[key] = responder
            endpoint.poll(token: token, user: nil, responder: responder, now: now)
        case .send:
            let answer = endpoint.send(token: token, body: body, now: now)
            reply(answer.status, "text/plain; charset=utf-8", Array(answer.text.utf8))
        case .delete:
            let answer = endpoint.delete(token: token, now: now)
            reply(answer.status, "text/plain; charset=utf-8", Array(answer.text.utf8))
        }
    }

    func forget(_ transport: RemoteTransport) {
        remotes[RemoteKey(front: transport.front, session: transport.session)] = nil
    }

    // MARK: Backplane

    /// A `forward` cluster message from `origin` (the bytes after the cluster header).
    func received(_ bytes: UnsafeRawBufferPointer, from origin: String) {
        guard let message = ForwardMessage.decode(bytes) else {
            logger.debug("dropped a malformed forward message", ["origin": LogText.cut(origin)])
            return
        }
        switch message {
        case .open(let request, let hub, let token, let transport):
            open(request, hub: hub, token: token, transport: transport, from: origin)
        case .opened(let request, let status, let text):
            opened(request, status: status, text: text, from: origin)
        case .data(let session, let format, let bytes, let toOwner):
            if toOwner {
                remotes[RemoteKey(front: origin, session: session)]?.received(bytes)
            } else {
                frontData(session, format: format, bytes: bytes, from: origin)
            }
        case .close(let session, let toOwner, let clean):
            if toOwner {
                let key = RemoteKey(front: origin, session: session)
                remotes.removeValue(forKey: key)?.frontClosed(clean: clean)
                remotePolls.removeValue(forKey: key)?.gone()
            } else {
                frontClose(session, from: origin)
            }
        case .http(let id, let hub, let token, let method, let body):
            request(id, hub: hub, token: token, method: method, body: body, from: origin)
        case .reply(let request, let status, let contentType, let body):
            replied(request, status: status, contentType: contentType, body: body, from: origin)
        }
    }

    /// `replica` can't be reached: the sessions it fronts for us end, and so do ours with it as owner.
    func unreachable(_ replica: String) {
        for (key, remote) in remotes where key.front == replica {
            remotes[key] = nil
            remote.frontClosed()
        }
        for (key, poll) in remotePolls where key.front == replica {
            remotePolls[key] = nil
            poll.gone()
        }
        for front in Array(fronts.values) where front.owner == replica {
            if front.established {
                frontClose(front.id, from: replica)
            } else {
                finish(front, .text(404, "No Connection with that ID"))
            }
        }
    }
}
