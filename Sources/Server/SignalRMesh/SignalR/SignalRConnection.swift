import NetKit

/// One SignalR connection over a WebSocket: the hub handshake, then hub messages, keep-alive pings and the client
/// timeout. Confined to its loop.
final class SignalRConnection: HubConnectionSink {
    let connectionId: String
    let token: String
    let endpoint: HubEndpoint
    let ws: WebSocketSession
    /// The user and token claims the transport request authenticated (nil: anonymous).
    let userId: String?
    let claims: JWTClaims?
    let items = ConnectionItems()

    /// Invocations waiting for the one running (one at a time, in order); bounded.
    private var queued: [(invocation: InvocationMessage, streaming: Bool)] = []
    private var queuedHead = 0
    /// An async method (or `onConnected`) is running.
    private var busy = false
    static let maxQueuedInvocations = 1024

    private var timing: HubConnectionStateMachine
    private var framer: RecordSeparatorFramer
    /// Built on use: logging is rare, and a stored logger (with its metadata dictionary) costs every connection.
    private var logger: Logger { Logger(label: "hub", metadata: ["conn": connectionId]) }

    var phase: HubConnectionStateMachine.Phase { timing.phase }

    var hubName: String { endpoint.hub.name }

    init(
        connectionId: String, token: String, endpoint: HubEndpoint, ws: WebSocketSession, user: String?,
        claims: JWTClaims?, now: UInt64
    ) {
        self.connectionId = connectionId
        self.userId = user
        self.claims = claims
        self.token = token
        self.endpoint = endpoint
        self.ws = ws
        self.framer = RecordSeparatorFramer(maxMessageSize: endpoint.options.maxMessageSize)
        let o = endpoint.options
        self.timing = HubConnectionStateMachine(
            timeouts: .init(handshake: o.handshakeTimeout, keepAlive: o.keepAliveInterval, client: o.clientTimeout), now: now)
    }

    func start(leftover: [UInt8]) {
        // Weak: the hub may drop this connection while its socket finishes the close handshake. The session streams
        // (see HTTPServer): chunks of text or binary WebSocket messages go straight to the 0x1E framer.
        ws.onChunk = { [weak self] bytes, _ in self?.received(bytes) }
        ws.onText = { [weak self] bytes in self?.received(bytes) }
        ws.onBinary = { [weak self] bytes in self?.received(bytes) }
        ws.onActivity = { [weak self] in self?.activity() }
        ws.onClosed = { [weak self] _ in self?.transportClosed() }
        ws.start(leftover: leftover)
    }

    // MARK: Receiving

    /// Any bytes from the client, even part of a frame or a WebSocket ping, reset the client timeout (ASP.NET Core
    /// resets it on every read).
    private func activity() {
        timing.received(now: ws.conn.loop.now)
    }

    private func received(_ bytes: [UInt8]) {
        guard phase != .closed else { return }
        framer.append(bytes)
        while phase != .closed {
            do {
                if phase == .handshake {
                    guard let message = try framer.next() else { return }
                    handshake(message)
                } else {
                    // Parsed where it lies in the framer's buffer: no copy of the message.
                    guard let parsed = try framer.withNext({ bytes in Result { try JSONHubProtocol.parse(bytes) } }) else {
                        return
                    }
                    dispatch(parsed)
                }
            } catch {
                if phase == .handshake {
                    failHandshake(Handshake.canceledError, log: "handshake larger than \(endpoint.options.maxMessageSize) bytes")
                } else {
                    endpoint.throttledLog.warning(logger, kind: "max-message-size",
                        "closing: \(HubErrors.maximumMessageSizeExceeded(endpoint.options.maxMessageSize))")
                    close(error: HubErrors.closedWithError, allowReconnect: true)
                }
                return
            }
        }
    }

    private func handshake(_ message: [UInt8]) {
        let request: HandshakeRequest
        do {
            request = try Handshake.parseRequest(message)
        } catch {
            failHandshake(Handshake.unexpectedError, log: "malformed handshake: \(LogText.untrusted("\(error)", limit: 160))")
            return
        }
        if let error = Handshake.validate(request) {
            failHandshake(error, log: "handshake refused: \(LogText.untrusted(error, limit: 160))")
            return
        }
        guard timing.handshakeCompleted(now: ws.conn.loop.now) else {
            failHandshake(Handshake.canceledError, log: "handshake completed after the deadline")
            return
        }
        sendRaw(Handshake.successResponse)
        endpoint.connected(self)
    }

    private func failHandshake(_ text: String, log: String) {
        logger.debug(log)
        sendRaw(Handshake.errorResponse(text))
        timing.closed()
        ws.close(code: 1000, reason: "")
        endpoint.disconnected(self, wasActive: false, error: nil)
    }

    private func dispatch(_ parsed: Result<HubMessage, any Error>) {
        let message: HubMessage
        do {
            message = try parsed.get()
        } catch {
            endpoint.throttledLog.warning(logger, kind: "invalid-hub-message",
                "closing: invalid hub message: \(LogText.untrusted("\(error)", limit: 160))")
            close(error: HubErrors.closedWithError, allowReconnect: true)
            return
        }
        switch message {
        case .invocation(let inv):
            enqueue(inv, streaming: false)
        case .streamInvocation(let inv):
            enqueue(inv, streaming: true)
        case .ping, .cancelInvocation, .ack, .sequence:
            break
        case .completion, .streamItem:
            // Client results and upload streams aren't offered by any hub method yet: nothing is waiting for these.
            logger.debug("ignored a hub message of type \(message.typeId) the hub did not ask for")
        case .close:
            timing.closed()
            ws.close(code: 1000, reason: "")
            endpoint.disconnected(self, wasActive: true, error: nil)
        }
    }

    // MARK: Invocations

    private lazy var handle = ConnectionHandle(self, loop: ws.conn.loop)

    /// The context a hub method or hook sees.
    var caller: HubCaller {
        HubCaller(
            connectionId: connectionId, userId: userId, claims: claims, items: items,
            clients: HubCallerClients(base: endpoint.clients, callerId: connectionId), groups: endpoint.groups,
            handle: handle)
    }

    /// Runs `onConnected` before any invocation: invocations that arrive meanwhile queue behind it.
    func runConnectedHook() {
        guard let hook = endpoint.hub.connectedHook else { return }
        busy = true
        let caller = self.caller
        let loop = ws.conn.loop
        let box = UnsafeSendableBox(self)
        Task {
            let failure: String?
            do {
                try await hook(caller)
                failure = nil
            } catch {
                failure = "\(error)"
            }
            loop.execute {
                let connection = box.value
                connection.busy = false
                if let failure {
                    connection.endpoint.throttledLog.warning(connection.logger, kind: "on-connected-failed",
                        "onConnected failed: \(LogText.untrusted(failure, limit: 160)); closing")
                    connection.close(error: HubErrors.closedWithError, allowReconnect: false)
                } else {
                    connection.runQueued()
                }
            }
        }
    }

    private func enqueue(_ inv: InvocationMessage, streaming: Bool) {
        if !busy && queuedHead == queued.count {
            invoke(inv, streaming: streaming)
            return
        }
        guard queued.count - queuedHead < Self.maxQueuedInvocations else {
            endpoint.throttledLog.warning(logger, kind: "invocation-queue-full",
                "closing: \(Self.maxQueuedInvocations) invocations waiting behind a running one")
            close(error: HubErrors.closedWithError, allowReconnect: true)
            return
        }
        queued.append((inv, streaming))
    }

    private func runQueued() {
        while !busy && phase == .active && queuedHead < queued.count {
            let next = queued[queuedHead]
            queuedHead += 1
            if queuedHead == queued.count {
                queued.removeAll(keepingCapacity: true)
                queuedHead = 0
            }
            invoke(next.invocation, streaming: next.streaming)
        }
    }

    private func invoke(_ inv: InvocationMessage, streaming: Bool) {
        let name = inv.target
        guard let method = endpoint.hub.methods[name] else {
            logger.debug("unknown hub method \(LogText.untrusted(name))")
            complete(inv.invocationId, error: HubErrors.unknownMethod(name))
            return
        }
        if streaming {
            complete(inv.invocationId, error: HubErrors.nonStreamingMethodCalledWithStream(name))
            return
        }
        if let streams = inv.streamIds, !streams.isEmpty {
            logger.debug("\(LogText.untrusted(name)) takes no streams but \(streams.count) were sent")
            complete(inv.invocationId, error: HubErrors.invocationFailed(name))
            return
        }
        guard inv.arguments.count == method.parameterCount else {
            logger.debug(HubErrors.argumentCountMismatch(provided: inv.arguments.count, expected: method.parameterCount))
            complete(inv.invocationId, error: endpoint.options.detailedErrors
                ? HubErrors.invocationFailed(name, detail: "InvalidDataException: " + HubErrors.argumentCountMismatch(provided: inv.arguments.count, expected: method.parameterCount))
                : HubErrors.invocationFailed(name))
            return
        }
        if method.requiresUser && userId == nil {
            complete(inv.invocationId, error: HubErrors.unauthorized(name))
            return
        }
        switch method.body {
        case .sync(let body):
            let result: Result<JSONValue?, any Error>
            do {
                result = .success(try body(caller, inv.arguments))
            } catch {
                result = .failure(error)
            }
            finish(inv, result)
        case .async(let body):
            busy = true
            let caller = self.caller
            let arguments = inv.arguments
            let loop = ws.conn.loop
            let box = UnsafeSendableBox(self)
            let request = UnsafeSendableBox(inv)
            Task {
                let result: Result<JSONValue?, any Error>
                do {
                    result = .success(try await body(caller, arguments))
                } catch {
                    result = .failure(error)
                }
                loop.execute {
                    let connection = box.value
                    connection.busy = false
                    guard connection.phase == .active else { return }
                    connection.finish(request.value, result)
                    connection.runQueued()
                }
            }
        }
    }

    /// Sends the invocation's Completion (when the caller waits for one), mapping errors to ASP.NET Core's texts.
    private func finish(_ inv: InvocationMessage, _ result: Result<JSONValue?, any Error>) {
        let name = inv.target
        let detailed = endpoint.options.detailedErrors
        switch result {
        case .success(let value):
            if let id = inv.invocationId, !id.isEmpty {
                sendHubMessage(.completion(invocationId: id, result: value, error: nil))
            }
        case .failure(let e as HubException):
            complete(inv.invocationId, error: HubErrors.hubException(name, e.message))
        case .failure(let e as HubArgumentCoding.Mismatch):
            logger.debug("\(LogText.untrusted(name)) called with arguments of the wrong type")
            complete(inv.invocationId, error: detailed
                ? HubErrors.invocationFailed(name, detail: "InvalidDataException: Error binding arguments. \(e.detail)")
                : HubErrors.invocationFailed(name))
        case .failure(let error):
            endpoint.throttledLog.warning(logger, kind: "hub-method-failed",
                "hub method \(LogText.untrusted(name)) failed: \(LogText.untrusted("\(error)", limit: 160))")
            complete(inv.invocationId, error: detailed
                ? HubErrors.unexpected(name, detail: "\(type(of: error)): \(error)")
                : HubErrors.unexpected(name))
        }
    }

    /// Sends an error Completion when the caller waits for one; a non-blocking invocation gets no answer.
    private func complete(_ invocationId: String?, error: String) {
        // An empty id counts as none, as in ASP.NET Core: the caller isn't waiting.
        guard let id = invocationId, !id.isEmpty else { return }
        sendHubMessage(.completion(invocationId: id, result: nil, error: error))
    }

    // MARK: Sending

    func sendHubMessage(_ message: HubMessage) {
        var out: [UInt8] = []
        JSONHubProtocol.encode(message, into: &out)
        sendRaw(out)
    }

    private func sendRaw(_ json: [UInt8]) {
        var frame: [UInt8] = []
        frame.reserveCapacity(json.count + 10)
        WebSocketFrameEncoder.encode(.text, payload: json, into: &frame)
        ws.sendEncoded(frame)
        timing.sent(now: ws.conn.loop.now)
    }

    /// Queues a broadcast message (shared bytes, no copy).
    func sendMessage(_ message: OutgoingMessage) {
        guard phase == .active else { return }
        ws.sendEncoded(message.webSocketTextFrame)
        timing.sent(now: ws.conn.loop.now)
    }

    static let pingFrame: [UInt8] = {
        var out: [UInt8] = []
        WebSocketFrameEncoder.encode(.text, payload: JSONHubProtocol.pingMessage, into: &out)
        return out
    }()

    /// Sends the hub's Close message, then closes the WebSocket.
    func close(error: String?, allowReconnect: Bool) {
        guard phase != .closed else { return }
        let wasActive = phase == .active
        sendHubMessage(.close(error: error, allowReconnect: allowReconnect))
        timing.closed()
        ws.close(code: 1000, reason: "")
        endpoint.disconnected(self, wasActive: wasActive, error: error.map { ConnectionClosedError(reason: $0) })
    }

    private func transportClosed() {
        guard phase != .closed else { return }
        let wasActive = phase == .active
        timing.closed()
        endpoint.disconnected(self, wasActive: wasActive, error: nil)
    }

    /// The 1 s heartbeat: handshake timeout, keep-alive Ping, client timeout.
    func tick(now: UInt64) {
        switch timing.tick(now: now) {
        case .none:
            break
        case .sendPing:
            ws.sendEncoded(Self.pingFrame)
        case .handshakeTimedOut:
            // failHandshake checks nothing of the phase: the machine already moved to closed.
            logger.debug("handshake timed out")
            sendRaw(Handshake.errorResponse(Handshake.canceledError))
            ws.close(code: 1000, reason: "")
            endpoint.disconnected(self, wasActive: false, error: nil)
        case .clientTimedOut:
            logger.debug("client timeout: nothing received for \(endpoint.options.clientTimeout) s")
            sendHubMessage(.close(error: nil, allowReconnect: true))
            ws.close(code: 1000, reason: "")
            endpoint.disconnected(self, wasActive: true, error: ConnectionClosedError(reason: "client timeout"))
        }
    }
}
