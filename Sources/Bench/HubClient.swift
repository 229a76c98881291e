import Foundation
import NetKit

/// One SignalR client (negotiate v1 or skipNegotiation, WebSockets, JSON hub protocol) on a NetKit loop.
///
/// Confined to its loop: every method must run on `loop`'s thread (hence `@unchecked Sendable`, so that
/// closures handed to `EventLoop.execute` can carry it there).
final class HubClient: @unchecked Sendable {
    private enum Phase { case idle, negotiating, upgrading, open, closed }

    let loop: EventLoop
    let url: HubURL
    /// Called for every hub record (without the 0x1E) after the handshake, with the monotonic time at which
    /// the bytes were read. `record` is a view valid only during the call.
    var onRecord: ((_ record: UnsafeRawBufferPointer, _ receivedNanos: UInt64) -> Void)?
    /// Count-only receiving, for fan-out benchmarks whose messages all have one length: once a text message holding
    /// one record with a latency stamp (`"L|…`) has arrived, every text message of exactly that length is counted in
    /// ``counted`` instead of being split and handed to `onRecord`. That keeps the client's work per message to a
    /// frame header and a length check, well under what the replica spends on it.
    var countsStampedMessages = false
    private(set) var counted = 0
    private var countedLength = -1
    /// Called once if the connection ends after the handshake.
    var onClose: ((String) -> Void)?

    private var phase = Phase.idle
    private var connection: TCPConnection?
    private var inbound: [UInt8] = []
    private var parser = ServerFrameParser()
    private var mask = MaskSource()
    private var key = ""
    private var handshaken = false
    private var handshakeError: String?
    private var completion: ((Result<Void, WireError>) -> Void)?
    private var keepAlive: TimerID?
    private var frame: [UInt8] = []

    init(loop: EventLoop, url: HubURL) {
        self.loop = loop
        self.url = url
    }

    /// Negotiates (v1) unless `skipNegotiation`, upgrades, sends the JSON handshake and waits for `{}`.
    /// `completion` runs on the loop once the hub connection is usable, or with the reason it isn't.
    func start(skipNegotiation: Bool = false, completion: @escaping (Result<Void, WireError>) -> Void) {
        precondition(loop.inEventLoop)
        self.completion = completion
        if skipNegotiation {
            upgrade(token: nil)
        } else {
            negotiate()
        }
    }

    /// Sends one hub record (which must end with 0x1E) as one masked text frame, written at once.
    func send(record: UnsafeRawBufferPointer) {
        guard phase == .open, let connection else { return }
        frame.removeAll(keepingCapacity: true)
        ClientFrame.append(opcode: ClientFrame.opText, payload: record, mask: mask.next(), into: &frame)
        connection.write(frame)
        connection.flush()
    }

    func send(record: [UInt8]) {
        record.withUnsafeBytes { send(record: $0) }
    }

    /// Sends a WebSocket close and closes the socket.
    func close() {
        guard phase != .closed else { return }
        if phase == .open, let connection {
            var out = [UInt8]()
            let payload: [UInt8] = [0x03, 0xE8]  // 1000 normal closure
            payload.withUnsafeBytes { ClientFrame.append(opcode: ClientFrame.opClose, payload: $0, mask: mask.next(), into: &out) }
            connection.write(out)
        }
        phase = .closed
        if let keepAlive { loop.cancel(keepAlive) }
        connection?.onClose = nil
        connection?.close()
        connection = nil
    }

    // MARK: - Steps

    private func dial(_ then: @escaping (TCPConnection) -> Void) {
        let address: SocketAddress
        do {
            address = try SocketAddress(host: url.host, port: url.port)
        } catch {
            return finish(.failure(WireError("bad address: \(error)")))
        }
        TCPConnection.connect(loop: loop, to: address) { [self] result in
            switch result {
            case .failure(let e): finish(.failure(WireError("connect \(url.hostHeader): \(e)")))
            case .success(let c): then(c)
            }
        }
    }

    private func negotiate() {
        phase = .negotiating
        dial { [self] c in
            connection = c
            inbound.removeAll()
            c.onRead = { [unowned self] bytes in
                inbound.append(contentsOf: bytes)
                negotiateRead()
            }
            c.onClose = { [unowned self] reason in
                if phase == .negotiating { finish(.failure(WireError("negotiate: connection \(reason)"))) }
            }
            c.write(ClientRequests.negotiate(url))
        }
    }

    private func negotiateRead() {
        let head: HTTPResponseHead
        do {
            guard let h = try HTTPResponseHead.parse(inbound) else { return }
            head = h
        } catch {
            return finish(.failure(WireError("negotiate: \(error)")))
        }
        guard let length = head.contentLength else { return finish(.failure(WireError("negotiate: no Content-Length"))) }
        guard inbound.count >= head.length + length else { return }
        let body = Data(inbound[head.length..<(head.length + length)])
        guard head.status == 200 else {
            return finish(.failure(WireError("negotiate: HTTP \(head.status) \(String(decoding: body, as: UTF8.self))")))
        }
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            return finish(.failure(WireError("negotiate: body is not a JSON object")))
        }
        if let error = object["error"] as? String { return finish(.failure(WireError("negotiate: \(error)"))) }
        guard let token = object["connectionToken"] as? String else {
            return finish(.failure(WireError("negotiate: no connectionToken (server answered v0?)")))
        }
        let old = connection
        old?.onClose = nil
        old?.onRead = nil
        old?.close()
        connection = nil
        upgrade(token: token)
    }

    private func upgrade(token: String?) {
        phase = .upgrading
        key = Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        dial { [self] c in
            connection = c
            inbound.removeAll()
            c.onRead = { [unowned self] bytes in read(bytes) }
            c.onClose = { [unowned self] reason in closed("\(reason)") }
            c.write(ClientRequests.upgradeAndHandshake(url, token: token, key: key, mask: &mask))
        }
    }

    private func read(_ bytes: UnsafeRawBufferPointer) {
        let now = monotonicNanos()
        if phase == .upgrading {
            inbound.append(contentsOf: bytes)
            let head: HTTPResponseHead
            do {
                guard let h = try HTTPResponseHead.parse(inbound) else { return }
                head = h
            } catch {
                return fail("upgrade: \(error)")
            }
            guard head.status == 101 else { return fail("upgrade: HTTP \(head.status)") }
            let expected = Base64.encode(SHA1.hash(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)))
            guard head.headers["sec-websocket-accept"] == expected else { return fail("upgrade: wrong Sec-WebSocket-Accept") }
            phase = .open
            parser.append(Array(inbound[head.length...]))
            inbound = []
        } else if phase == .open {
            parser.append(bytes)
        } else {
            return
        }
        drainFrames(now: now)
    }

    private func drainFrames(now: UInt64) {
        while phase == .open {
            let event: ServerFrameEvent?
            do {
                event = try parser.next { message in textMessage(message, now: now) }
            } catch {
                return fail("\(error)")
            }
            if let handshakeError { return fail("handshake refused: \(handshakeError)") }
            guard let event, phase == .open else { return }
            switch event {
            case .text(let message):
                message.withUnsafeBytes { textMessage($0, now: now) }
                if let handshakeError { return fail("handshake refused: \(handshakeError)") }
            case .binary:
                return fail("unexpected binary message")
            case .ping(let payload):
                var out = [UInt8]()
                payload.withUnsafeBytes { ClientFrame.append(opcode: ClientFrame.opPong, payload: $0, mask: mask.next(), into: &out) }
                connection?.write(out)
            case .pong:
                break
            case .close(let code):
                return fail("server closed the WebSocket (code \(code.map(String.init) ?? "none"))")
            }
        }
    }

    /// One text message: its records (split at 0x1E) go to `onRecord`, or answer the handshake first.
    private func textMessage(_ message: UnsafeRawBufferPointer, now: UInt64) {
        guard phase == .open, handshakeError == nil else { return }
        if message.count == countedLength {
            counted += 1
            return
        }
        forEachRecord(message) { record in
            if handshaken {
                // A message that is one stamped record fixes the length counted from now on.
                if countsStampedMessages, countedLength < 0, record.count + 1 == message.count,
                    LatencyRecorder.parse(record) != nil
                {
                    countedLength = message.count
                    counted += 1
                } else {
                    onRecord?(record, now)
                }
            } else if record.elementsEqual("{}".utf8) {
                // The first record answers the handshake: `{}` or `{"error":"…"}`.
                handshaken = true
                keepAlive = loop.scheduleRepeating(everyNanos: 10_000_000_000) { [weak self] in
                    self?.send(record: HubMessages.ping)
                }
                finish(.success(()))
            } else {
                handshakeError = String(decoding: record, as: UTF8.self)
                return false
            }
            return true
        }
    }

    private func fail(_ reason: String) {
        let wasOpen = handshaken
        close()
        if wasOpen {
            let cb = onClose
            onClose = nil
            cb?(reason)
        } else {
            finish(.failure(WireError(reason)))
        }
    }

    private func closed(_ reason: String) {
        guard phase != .closed else { return }
        fail("connection \(reason)")
    }

    private func finish(_ result: Result<Void, WireError>) {
        guard let completion else { return }
        self.completion = nil
        if case .failure = result { close() }
        completion(result)
    }
}
