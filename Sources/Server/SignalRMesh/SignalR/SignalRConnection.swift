import NetKit

/// One SignalR connection over any transport (``HubTransport``) and hub protocol (``HubProtocol``, chosen at the
/// handshake): the hub handshake, then hub messages, keep-alive pings and the client timeout. Confined to its loop.
final class SignalRConnection: HubConnectionSink, HubTransportHandler {
    let connectionId: String
    let token: String
    let endpoint: HubEndpoint
    /// The transport in use; a stateful-reconnect connection gets a new one when its client comes back.
    var transport: any HubTransport {
        didSet { webSocket = Self.webSocket(of: transport) }
    }
    /// `transport` when it is a WebSocket, unretained (`transport` holds it and every change of `transport` updates
    /// this): broadcasts write to it without the existential hop and without reference counting per recipient.
    private var webSocket: Unmanaged<WebSocketSession>?
    let loop: EventLoop
    /// The hub protocol; JSON until the handshake chose one. The protocols are stateless: only their kind is
    /// stored (an existential field would cost every connection 40 bytes).
    var hubProtocol: any HubProtocol { protocolKind == .json ? HubProtocols.json : HubProtocols.messagePack }
    /// The hub protocol's kind, also read directly by the per-recipient send path.
    private var protocolKind: HubProtocolKind = .json
    /// Reads came since the WebSocket parser last let go of its buffers: the heartbeat must come a quiet second
    /// after the last read to release them (see ``nextDeadline``). (Declared next to `protocolKind`, as is
    /// `deadlineHandle`: both fit in the padding after it, so they cost the connection no bytes.)
    private var parserBuffersHeld = false
    /// This connection's entry in its endpoint's heartbeat wheel (``HubEndpoint/reschedule(_:)``); none once closed.
    var deadlineHandle = DeadlineWheel<SignalRConnection>.Handle.none
    /// The user and token claims the transport request authenticated (nil: anonymous).
    let userId: String?
    let claims: JWTClaims?
    /// Made on first use (by a hub method or hook): most connections never need one.
    private(set) lazy var items = ConnectionItems()

    /// Invocations waiting for the one running (one at a time, in order); bounded.
    private var queued: [(invocation: InvocationMessage, streaming: Bool, uploads: [UploadStream])] = []
    private var queuedHead = 0
    /// An async method (or `onConnected`, or a streaming method until it has its sequence) is running.
    var busy = false
    /// Upload and server→client streams, and client results in flight.
    var streams = ConnectionStreams()
    static let maxQueuedInvocations = 1024

    private var timing: HubConnectionStateMachine
    /// The handshake's 0x1E framer until the handshake is done, then the chosen protocol's reader (which gets
    /// whatever followed the handshake).
    private var handshakeFramer: RecordSeparatorFramer?
    private var reader: (any HubMessageReader)?
    /// Built on use: logging is rare, and a stored logger (with its metadata dictionary) costs every connection.
    /// Its lines carry the connection id (`conn=`), never the connection token.
    var logger: Logger { Logger(label: "hub", metadata: ["conn": connectionId]) }
    /// When the handshake completed (loop clock); nil before.
    private(set) var openedAt: UInt64?

    /// The fields of this connection's `connection opened` and `connection closed` lines.
    var eventFields: [String: String] {
        var fields = ["transport": transport.kind.rawValue, "protocol": hubProtocol.name, "hub": hubName]
        if let remote = transport.remoteAddress { fields["remote"] = remote.description }
        if let forwarded = transport as? RemoteTransport { fields["via"] = forwarded.front }
        if stateful != nil { fields["stateful"] = "yes" }
        return fields
    }

    // Stateful reconnect.
    /// Negotiate granted stateful reconnect; it takes effect if the handshake asks for protocol version 2 or more.
    let negotiatedStatefulReconnect: Bool
    /// Stateful reconnect's state, out of line: only a connection that negotiated it has one (inline, these fields
    /// would cost every connection about 100 bytes).
    private final class Reconnection {
        /// Numbering, the replay buffer and Acks; nil unless the handshake turned stateful reconnect on.
        var buffer: StatefulReconnectBuffer<Replayable>?
        /// When the transport dropped (loop clock), while the client is away; nil while attached.
        var detachedAt: UInt64?
        /// The current transport's link to this connection (see ``TransportAttachment``).
        var attachment: TransportAttachment?
    }
    /// Made when negotiate granted stateful reconnect; nil otherwise.
    private let reconnection: Reconnection?
    /// Numbering, the replay buffer and Acks; nil unless stateful reconnect is on for this connection.
    var stateful: StatefulReconnectBuffer<Replayable>? { reconnection?.buffer }
    /// When the transport dropped (loop clock), while a stateful connection waits for its client; nil while attached.
    var detachedAt: UInt64? { reconnection?.detachedAt }

    /// A tracked message kept for a replay: bytes this connection encoded, or a shared broadcast.
    enum Replayable {
        case encoded([UInt8])
        case shared(OutgoingMessage)
    }

    var phase: HubConnectionStateMachine.Phase { timing.phase }

    /// When the client's last bytes came (loop clock; tests).
    var lastReceivedForTests: UInt64 { timing.lastReceived }

    var hubName: String { endpoint.hub.name }

    init(
        connectionId: String, token: String, endpoint: HubEndpoint, transport: any HubTransport, user: String?,
        claims: JWTClaims?, statefulReconnect: Bool = false, now: UInt64
    ) {
        self.connectionId = connectionId
        self.negotiatedStatefulReconnect = statefulReconnect
        self.reconnection = statefulReconnect ? Reconnection() : nil
        self.userId = user
        self.claims = claims
        self.token = token
        self.endpoint = endpoint
        self.transport = transport
        self.webSocket = Self.webSocket(of: transport)
        self.loop = transport.loop
        self.handshakeFramer = RecordSeparatorFramer(maxMessageSize: endpoint.options.maxMessageSize)
        let o = endpoint.options
        // Long polling has an inherent keep-alive: no Pings, no client timeout (its own inactivity timeout ends it).
        let forever = Double(UInt64.max / 2) / 1e9
        self.timing = HubConnectionStateMachine(
            timeouts: .init(
                handshake: o.handshakeTimeout,
                keepAlive: transport.hasInherentKeepAlive ? forever : o.keepAliveInterval,
                client: transport.hasInherentKeepAlive ? forever : o.clientTimeout),
            now: now)
    }

    func start(leftover: [UInt8]) {
        attach(leftover: leftover)
    }

    /// Starts the current transport; a connection that negotiated stateful reconnect listens through an attachment,
    /// so that a replaced transport can't reach it.
    private func attach(leftover: [UInt8]) {
        guard negotiatedStatefulReconnect else {
            transport.start(handler: self, leftover: leftover)
            return
        }
        let link = TransportAttachment(self)
        reconnection?.attachment = link
        transport.start(handler: link, leftover: leftover)
    }

    // MARK: Receiving (HubTransportHandler)

    /// Any bytes from the client, even part of a frame or a WebSocket ping, reset the client timeout (ASP.NET Core
    /// resets it on every read).
    func transportActivity() {
        timing.received(now: loop.now)
        // The first read since the parser's buffers went back: the heartbeat has to come a quiet second after the
        // last read to release them again. Other reads only push deadlines later: nothing to do per read.
        if !parserBuffersHeld, webSocket != nil {
            parserBuffersHeld = true
            endpoint.reschedule(self)
        }
    }

    func transportReceived(_ bytes: UnsafeRawBufferPointer) {
        guard phase != .closed else { return }
        if reader != nil {
            reader!.append(bytes)
        } else {
            handshakeFramer?.append(bytes)
        }
        while phase != .closed {
            do {
                if phase == .handshake {
                    guard let message = try handshakeFramer?.next() else { return }
                    handshake(message)
                } else {
                    guard let parsed = try reader?.next() else { return }
                    dispatch(parsed)
                }
            } catch {
                if phase == .handshake {
                    failHandshake(Handshake.canceledError, log: "handshake larger than \(endpoint.options.maxMessageSize) bytes")
                } else if error as? FramerError == .messageTooLarge {
                    endpoint.throttledLog.warning(logger, kind: "max-message-size",
                        "closing: message too large", ["limit": "\(endpoint.options.maxMessageSize)"])
                    close(error: HubErrors.closedWithError, allowReconnect: true, reason: "message too large")
                } else {
                    endpoint.throttledLog.warning(logger, kind: "invalid-framing",
                        "closing: invalid framing",
                        ["protocol": hubProtocol.name, "error": LogText.cut("\(error)", limit: 160)])
                    close(error: HubErrors.closedWithError, allowReconnect: true, reason: "invalid framing")
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
            failHandshake(Handshake.unexpectedError, log: "malformed handshake: " + LogText.cut("\(error)", limit: 160))
            return
        }
        var offered: [String: ClosedRange<Int>] = [:]
        for p in HubProtocols.all { offered[p.name] = p.versions }
        if let error = Handshake.validate(request, supportedProtocols: offered, transferFormatText: !transport.supportsBinary) {
            failHandshake(error, log: LogText.cut(error, limit: 160))
            return
        }
        guard timing.handshakeCompleted(now: loop.now) else {
            failHandshake(Handshake.canceledError, log: "handshake completed after the deadline")
            return
        }
        protocolKind = HubProtocols.named(request.protocolName)?.kind ?? .json
        // As ASP.NET Core: stateful reconnect needs protocol version 2 (what the clients send when they use it).
        if negotiatedStatefulReconnect && request.version >= 2 {
            reconnection?.buffer = StatefulReconnectBuffer(limit: endpoint.options.statefulReconnectBufferSize)
        }
        // What followed the handshake in the same read belongs to the protocol's reader.
        var next = hubProtocol.makeReader(maxMessageSize: endpoint.options.maxMessageSize)
        if let rest = handshakeFramer?.takeBuffered(), !rest.isEmpty { rest.withUnsafeBytes { next.append($0) } }
        handshakeFramer = nil
        reader = next
        // The handshake read is over: an idle connection shouldn't keep the WebSocket parser's buffers.
        webSocket?.takeUnretainedValue().releaseBuffersAfterThisRead()
        // That release is the heartbeat's, done early (it can fail only as the heartbeat's would, on a frame still
        // under way, which needs more reads anyway): no heartbeat due for it.
        parserBuffersHeld = false
        openedAt = loop.now
        sendRaw(Handshake.successResponse, format: .text)
        endpoint.connected(self)
    }

    private func failHandshake(_ text: String, log: String) {
        logger.debug("handshake refused", eventFields.merging(["reason": log]) { _, new in new })
        sendRaw(Handshake.errorResponse(text), format: .text)
        timing.closed()
        transport.close()
        endpoint.disconnected(self, wasActive: false, error: nil, reason: "handshake refused")
    }

    private func dispatch(_ parsed: Result<HubMessage, any Error>) {
        let message: HubMessage
        do {
            message = try parsed.get()
        } catch {
            endpoint.throttledLog.warning(logger, kind: "invalid-hub-message",
                "closing: invalid hub message", ["error": LogText.cut("\(error)", limit: 160)])
            close(error: HubErrors.closedWithError, allowReconnect: true, reason: "invalid hub message")
            return
        }
        endpoint.counters.messagesReceived &+= 1
        if stateful != nil {
            switch reconnection!.buffer!.received(message) {
            case .process:
                break
            case .skip:
                return
            case .fail(let text):
                endpoint.throttledLog.warning(logger, kind: "stateful-reconnect-sequence",
                    "closing: bad stateful-reconnect sequence", ["error": text])
                close(error: endpoint.options.detailedErrors
                    ? HubErrors.closedWithError(detail: "InvalidOperationException: \(text)") : HubErrors.closedWithError,
                    allowReconnect: true, reason: "bad stateful-reconnect sequence")
                return
            }
        }
        switch message {
        case .invocation(let inv):
            endpoint.counters.invocations &+= 1
            // Upload streams open now: their items may arrive while the invocation waits in the queue.
            guard let uploads = openUploads(inv) else { return }
            enqueue(inv, streaming: false, uploads: uploads)
        case .streamInvocation(let inv):
            endpoint.counters.invocations &+= 1
            guard let uploads = openUploads(inv) else { return }
            enqueue(inv, streaming: true, uploads: uploads)
        case .cancelInvocation(let id):
            cancelOutgoingStream(id)
        case .streamItem(let id, let item):
            uploadItem(id, item)
        case .completion(let id, let result, let error):
            completionReceived(id, result: result, error: error)
        case .ping:
            break
        case .ack, .sequence:
            // Applied by the stateful-reconnect buffer above; ignored on a connection without stateful reconnect.
            break
        case .close:
            timing.closed()
            transport.close()
            endpoint.disconnected(self, wasActive: true, error: nil, reason: "client sent Close")
        }
    }

    // MARK: Invocations

    private lazy var handle = ConnectionHandle(self, loop: loop)

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
        let loop = self.loop
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
                        "closing: onConnected failed", ["error": LogText.cut(failure, limit: 160)])
                    connection.close(error: HubErrors.closedWithError, allowReconnect: false, reason: "onConnected failed")
                } else {
                    connection.runQueued()
                }
            }
        }
    }

    private func enqueue(_ inv: InvocationMessage, streaming: Bool, uploads: [UploadStream]) {
        if !busy && queuedHead == queued.count {
            invoke(inv, streaming: streaming, uploads: uploads)
            return
        }
        guard queued.count - queuedHead < Self.maxQueuedInvocations else {
            endpoint.throttledLog.warning(logger, kind: "invocation-queue-full",
                "closing: invocation queue full", ["limit": "\(Self.maxQueuedInvocations)"])
            close(error: HubErrors.closedWithError, allowReconnect: true, reason: "invocation queue full")
            return
        }
        queued.append((inv, streaming, uploads))
    }

    func runQueued() {
        while !busy && phase == .active && queuedHead < queued.count {
            let next = queued[queuedHead]
            queuedHead += 1
            if queuedHead == queued.count {
                queued.removeAll(keepingCapacity: true)
                queuedHead = 0
            }
            invoke(next.invocation, streaming: next.streaming, uploads: next.uploads)
        }
    }

    private func invoke(_ inv: InvocationMessage, streaming: Bool, uploads: [UploadStream]) {
        let name = inv.target
        guard let method = endpoint.hub.methods[name] else {
            logger.debug("unknown hub method", ["method": LogText.cut(name)])
            endUploads(uploads)
            complete(inv.invocationId, error: HubErrors.unknownMethod(name))
            return
        }
        guard validate(inv, method, streaming: streaming) else {
            endUploads(uploads)
            return
        }
        let inputs = HubMethod.Inputs(arguments: inv.arguments, streams: uploads)
        switch method.body {
        case .sync(let body):
            let result: Result<JSONValue?, any Error>
            do {
                result = .success(try body(caller, inputs))
            } catch {
                result = .failure(error)
            }
            endUploads(uploads)
            finish(inv, result)
        case .async(let body):
            // A method reading upload streams doesn't hold the queue (ASP.NET Core runs it in the background).
            let holdsQueue = uploads.isEmpty
            if holdsQueue { busy = true }
            let caller = self.caller
            let loop = self.loop
            let box = UnsafeSendableBox(self)
            let request = UnsafeSendableBox(inv)
            Task {
                let result: Result<JSONValue?, any Error>
                do {
                    result = .success(try await body(caller, inputs))
                } catch {
                    result = .failure(error)
                }
                loop.execute {
                    let connection = box.value
                    connection.endUploads(uploads)
                    if holdsQueue { connection.busy = false }
                    guard connection.phase == .active else { return }
                    connection.finish(request.value, result)
                    if holdsQueue { connection.runQueued() }
                }
            }
        case .stream(let body):
            startOutgoingStream(inv, body, inputs)
        }
    }

    /// Checks the invocation mode, streams, arity and authorization; sends the error Completion when one fails.
    private func validate(_ inv: InvocationMessage, _ method: HubMethod, streaming: Bool) -> Bool {
        let name = inv.target
        if method.isStreaming && !streaming {
            complete(inv.invocationId, error: HubErrors.streamingMethodCalledWithInvoke(name))
            return false
        }
        if !method.isStreaming && streaming {
            complete(inv.invocationId, error: HubErrors.nonStreamingMethodCalledWithStream(name))
            return false
        }
        let streamCount = inv.streamIds?.count ?? 0
        guard streamCount == method.streamParameterCount else {
            logger.debug(
                "stream count mismatch",
                ["method": LogText.cut(name), "expected": "\(method.streamParameterCount)", "sent": "\(streamCount)"])
            complete(inv.invocationId, error: HubErrors.hubException(
                name, HubErrors.streamCountMismatch(clientStreams: streamCount, methodStreams: method.streamParameterCount)))
            return false
        }
        guard inv.arguments.count == method.parameterCount else {
            logger.debug(
                "argument count mismatch",
                ["method": LogText.cut(name), "expected": "\(method.parameterCount)", "sent": "\(inv.arguments.count)"])
            complete(inv.invocationId, error: endpoint.options.detailedErrors
                ? HubErrors.invocationFailed(name, detail: "InvalidDataException: " + HubErrors.argumentCountMismatch(provided: inv.arguments.count, expected: method.parameterCount))
                : HubErrors.invocationFailed(name))
            return false
        }
        if method.requiresUser && userId == nil {
            complete(inv.invocationId, error: HubErrors.unauthorized(name))
            return false
        }
        return true
    }

    /// Sends the invocation's Completion (when the caller waits for one), mapping errors to ASP.NET Core's texts.
    func finish(_ inv: InvocationMessage, _ result: Result<JSONValue?, any Error>) {
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
            logger.debug("arguments of the wrong type", ["method": LogText.cut(name)])
            complete(inv.invocationId, error: detailed
                ? HubErrors.invocationFailed(name, detail: "InvalidDataException: Error binding arguments. \(e.detail)")
                : HubErrors.invocationFailed(name))
        case .failure(let error):
            endpoint.throttledLog.warning(logger, kind: "hub-method-failed",
                "hub method failed", ["method": LogText.cut(name), "error": LogText.cut("\(error)", limit: 160)])
            complete(inv.invocationId, error: detailed
                ? HubErrors.unexpected(name, detail: "\(type(of: error)): \(error)")
                : HubErrors.unexpected(name))
        }
    }

    /// Sends an error Completion when the caller waits for one; a non-blocking invocation gets no answer.
    func complete(_ invocationId: String?, error: String) {
        endpoint.counters.invocationErrors &+= 1
        // An empty id counts as none, as in ASP.NET Core: the caller isn't waiting.
        guard let id = invocationId, !id.isEmpty else { return }
        sendHubMessage(.completion(invocationId: id, result: nil, error: error))
    }

    // MARK: Sending

    func sendHubMessage(_ message: HubMessage) {
        var out: [UInt8] = []
        hubProtocol.write(message, into: &out)
        endpoint.counters.messagesSent &+= 1
        if stateful != nil && message.isSequenced {
            guard keep(.encoded(out), bytes: out.count) else { return }
        }
        sendRaw(out, format: hubProtocol.transferFormat)
    }

    private func sendRaw(_ bytes: [UInt8], format: TransferFormat) {
        guard detachedAt == nil else { return }
        transport.send(bytes, format: format)
        timing.sent(now: loop.now)
    }

    /// Queues a broadcast message (shared bytes, no copy).
    func sendMessage(_ message: OutgoingMessage) {
        guard phase == .active else { return }
        if stateful != nil && message.isSequenced {
            let bytes = message.withPayload(protocolKind) { $0.count }
            guard keep(.shared(message), bytes: bytes) else { return }
        }
        if let webSocket {
            // What `WebSocketSession.send(_:kind:)` does, reached directly.
            let frame = message.webSocketFrame(protocolKind)
            webSocket._withUnsafeGuaranteedRef { $0.sendEncoded(frame) }
        } else {
            transport.send(message, kind: protocolKind)
        }
        timing.sent(now: loop.now)
    }

    /// A WebSocket without stateful reconnect takes broadcasts as shared frames (nothing per message to track).
    var sharedFrameSocket: (socket: TCPConnection, kind: HubProtocolKind)? {
        guard phase == .active, stateful == nil, let webSocket else { return nil }
        let session = webSocket.takeUnretainedValue()
        guard session.isOpen else { return nil }
        return (session.conn, protocolKind)
    }

    private static func webSocket(of transport: any HubTransport) -> Unmanaged<WebSocketSession>? {
        (transport as? WebSocketSession).map { Unmanaged.passUnretained($0) }
    }

    // MARK: Stateful reconnect

    /// Numbers a tracked message and keeps it for a replay if it fits. Returns whether to send it now: not while
    /// the client is away. A message that doesn't fit then ends the connection: the client could never get it.
    private func keep(_ message: Replayable, bytes: Int) -> Bool {
        reconnection!.buffer!.track(message, bytes: bytes)
        guard detachedAt != nil else { return true }
        if !stateful!.canReplay {
            endpoint.throttledLog.warning(logger, kind: "stateful-reconnect-overflow",
                "closing: stateful-reconnect buffer full while the client was away", ["limit": "\(stateful!.limit)"])
            dispose(reason: "stateful reconnect buffer full while the client was away")
        }
        return false
    }

    /// Whether a new WebSocket may take this connection over (the same `id`, no negotiate, no handshake).
    var canReattach: Bool {
        phase == .active && stateful != nil && (detachedAt != nil || transport.kind == .webSockets)
    }

    /// The client of a stateful connection came back with a new WebSocket: it replaces the old transport (closed
    /// if still open, as ASP.NET Core cancels it), gets `Sequence{first unacked id}` and every unacked message
    /// again, in order, and then whatever comes next. If a full buffer lost messages, the connection ends instead
    /// (the new WebSocket gets a Close).
    func reattach(_ newTransport: any HubTransport, leftover: [UInt8]) {
        guard canReattach, let replay = reconnection!.buffer!.reattached() else {
            close(error: nil, allowReconnect: true)
            var out: [UInt8] = []
            hubProtocol.write(.close(error: nil, allowReconnect: true), into: &out)
            newTransport.send(out, format: hubProtocol.transferFormat)
            newTransport.close()
            return
        }
        let old = detachedAt == nil ? transport : nil
        reconnection?.attachment = nil
        old?.close()
        logger.debug(
            "client reconnected",
            ["transport": newTransport.kind.rawValue, "remote": newTransport.remoteAddress?.description ?? "?",
             "resent": "\(replay.messages.count)", "from_seq": "\(replay.sequenceId)"])
        transport = newTransport
        reconnection?.detachedAt = nil
        // A message the old transport had half delivered is gone: the client sends it again.
        reader = hubProtocol.makeReader(maxMessageSize: endpoint.options.maxMessageSize)
        timing.received(now: loop.now)
        sendHubMessage(.sequence(sequenceId: replay.sequenceId))
        for message in replay.messages {
            switch message {
            case .encoded(let bytes): transport.send(bytes, format: hubProtocol.transferFormat)
            case .shared(let shared): transport.send(shared, kind: hubProtocol.kind)
            }
        }
        attach(leftover: leftover)
        endpoint.reschedule(self)
    }

    /// Ends a connection whose transport is already gone: the hub's `onDisconnected`, its groups left, its token
    /// forgotten.
    private func dispose(reason: String) {
        guard phase != .closed else { return }
        timing.closed()
        reconnection?.attachment = nil
        endpoint.disconnected(self, wasActive: true, error: ConnectionClosedError(reason: reason), reason: reason)
    }

    /// The Ping, shared by every connection: its encodings and frames are made once per protocol and transport.
    /// (Its lazily made encodings assume one loop touches it, like every OutgoingMessage.)
    static let ping = OutgoingMessage(.ping)

    /// Sends the hub's Close message, then closes the WebSocket.
    /// - Parameter reason: why, for the `connection closed` log line (default: `error`, else "closed by the server").
    func close(error: String?, allowReconnect: Bool, reason: String? = nil) {
        guard phase != .closed else { return }
        if detachedAt != nil { return dispose(reason: reason ?? error ?? "closed while the client was away") }
        let wasActive = phase == .active
        sendHubMessage(.close(error: error, allowReconnect: allowReconnect))
        timing.closed()
        transport.close()
        endpoint.disconnected(
            self, wasActive: wasActive, error: error.map { ConnectionClosedError(reason: $0) },
            reason: reason ?? error ?? "closed by the server")
    }

    func transportClosed() {
        guard phase != .closed, detachedAt == nil else { return }
        let wasActive = phase == .active
        // Stateful reconnect: a WebSocket that dropped (no Close frame from the client) may come back within the
        // disconnect timeout; meanwhile messages for the client are kept.
        if wasActive, transport.kind == .webSockets, stateful?.canReplay == true, !transport.closedByClient {
            reconnection?.detachedAt = loop.now
            reconnection?.attachment = nil
            logger.debug("transport lost: waiting for the client", ["wait": "\(endpoint.options.disconnectTimeout)s"])
            endpoint.reschedule(self)
            return
        }
        timing.closed()
        endpoint.disconnected(
            self, wasActive: wasActive, error: nil,
            reason: transport.closedByClient ? "client closed the transport" : "transport closed")
    }

    /// When ``tick(now:)`` next has something to do, from the state as it is now (nil: never, the connection is
    /// closed): the disconnect timeout of a client that is away; every heartbeat (0) for an attached
    /// stateful-reconnect connection (its Acks; such connections are few); else the earliest of the handshake
    /// timeout, the keep-alive Ping, the client timeout and, while reads since the last release left the WebSocket
    /// parser's buffers held, a quiet second after the last read. Activity only moves these later, so the endpoint
    /// checks lazily: it ticks the connection then, and asks again.
    var nextDeadline: UInt64? {
        if phase == .closed { return nil }
        if let since = detachedAt {
            return HubConnectionStateMachine.sum(since, UInt64(endpoint.options.disconnectTimeout * 1e9))
        }
        if phase == .active, stateful != nil { return 0 }
        var deadline = timing.nextDeadline
        if parserBuffersHeld, webSocket != nil {
            deadline = min(deadline, HubConnectionStateMachine.sum(timing.lastReceived, 1_000_000_000))
        }
        return deadline
    }

    /// The 1 s heartbeat: handshake timeout, keep-alive Ping, client timeout; with stateful reconnect, the Ack and
    /// the disconnect timeout of a connection whose client is away. The endpoint calls it when ``nextDeadline``
    /// has come (it may find nothing to do: activity since then moved the deadlines).
    func tick(now: UInt64) {
        if let since = detachedAt {
            if now &- since >= UInt64(endpoint.options.disconnectTimeout * 1e9), now >= since {
                dispose(reason: "disconnect timeout")
            }
            return
        }
        if phase == .active, stateful != nil, let id = reconnection!.buffer!.ackDue() {
            sendHubMessage(.ack(sequenceId: id))
        }
        if let webSocket {
            let session = webSocket.takeUnretainedValue()
            // Broadcast passes (a shared output's writes) count as sent for the keep-alive.
            if let shared = session.conn.sharedOutput, shared.lastPassAt != 0 { timing.sent(now: shared.lastPassAt) }
            // Quiet for a second (between its pings, say): its parser's buffers go back.
            if now &- timing.lastReceived >= 1_000_000_000 {
                session.releaseIdleBuffers()
                parserBuffersHeld = session.holdsParserBuffers
            }
        }
        switch timing.tick(now: now) {
        case .none:
            break
        case .sendPing:
            endpoint.counters.messagesSent &+= 1
            transport.send(Self.ping, kind: hubProtocol.kind)
        case .handshakeTimedOut:
            // failHandshake checks nothing of the phase: the machine already moved to closed.
            logger.debug("handshake refused", eventFields.merging(["reason": "handshake timeout"]) { _, new in new })
            sendRaw(Handshake.errorResponse(Handshake.canceledError), format: .text)
            transport.close()
            endpoint.disconnected(self, wasActive: false, error: nil, reason: "handshake timeout")
        case .clientTimedOut:
            sendHubMessage(.close(error: nil, allowReconnect: true))
            transport.close()
            endpoint.disconnected(
                self, wasActive: true, error: ConnectionClosedError(reason: "client timeout"), reason: "client timeout")
        }
    }
}
