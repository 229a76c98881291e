@testable import SignalRMesh

/// `websocket`: the RFC 6455 frame parser and the close/ping state machine, driven as `WebSocketSession` drives them,
/// plus the incremental UTF-8 validator on its own.
///
/// Checks:
/// - the same events, error and actions whatever the read boundaries;
/// - text messages and close reasons are valid UTF-8, control payloads at most 125 bytes, close codes valid;
/// - every event, encoded again as a (masked, optionally fragmented) client frame, parses to the same event;
/// - `UTF8Validator` fed the payload in two pieces agrees with the standard library's UTF-8 validation.
///
/// Flags: bit 0 = small limits (frame 300, message 1000 bytes); bit 1 = the parser plays the client (peer frames
/// unmasked); bit 2 = the server starts a close handshake before any input; bit 3 = a *streaming* parser (what hub
/// connections use: data frames handed out as chunks as they arrive). Chunk boundaries follow the reads, so for the
/// comparison across feeds a streaming run's chunks are joined back into whole messages (and its chunk-delivery
/// actions left out); those messages must then pass the same checks as a buffering parser's.
enum WebSocketTarget {
    enum Step: Equatable {
        case event(WebSocketEvent)
        case failed(WebSocketProtocolError)
        case action(WebSocketStateMachine.Action)
    }

    static let smallLimits = WebSocketLimits(maxFrameSize: 300, maxMessageSize: 1000)
    /// What the hub endpoint uses (`HTTPServer.hubRequest`: 1 MiB, or twice the hub message limit).
    static let hubLimits = WebSocketLimits(maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)

    static func run(_ input: FuzzInput) {
        let limits = input.flag(0) ? smallLimits : hubLimits
        let role: WebSocketFrameParser.Role = input.flag(1) ? .client : .server
        let streaming = input.flag(3)
        let steps = expectSameForEveryFeed(input) {
            drive($0, role: role, limits: limits, closeFirst: input.flag(2), streaming: streaming)
        }
        // A streaming parser has no message limit of its own (the hub framer bounds each hub message).
        let checked = streaming ? WebSocketLimits(maxFrameSize: limits.maxFrameSize, maxMessageSize: .max) : limits
        for step in steps {
            if case .event(let event) = step { checkEvent(event, role: role, limits: checked, cut: input.cut) }
        }
        checkUTF8Validator(input)
    }

    /// `WebSocketSession.received`: append, take events until the parser needs more or the transport is closed.
    static func drive(
        _ chunks: [[UInt8]], role: WebSocketFrameParser.Role, limits: WebSocketLimits, closeFirst: Bool, streaming: Bool = false
    ) -> [Step] {
        var parser = WebSocketFrameParser(role: role, limits: limits, streaming: streaming)
        var machine = WebSocketStateMachine()
        var steps: [Step] = []
        var transportOpen = true
        var partial: [UInt8] = []
        func perform(_ actions: WebSocketStateMachine.Actions) {
            for action in actions {
                if case .deliverChunk = action { continue }  // read-boundary dependent: joined into the event instead
                steps.append(.action(action))
                if action == .closeTransport { transportOpen = false }
            }
        }
        if closeFirst { perform(machine.close(code: 1001, reason: "going away")) }
        for chunk in chunks where transportOpen {
            parser.append(chunk)
            while transportOpen {
                do {
                    guard let event = try parser.next() else { break }
                    if case .dataChunk(let text, let bytes, let last) = event {
                        partial += bytes
                        if last {
                            steps.append(.event(text ? .text(partial) : .binary(partial)))
                            partial = []
                        }
                    } else {
                        steps.append(.event(event))
                    }
                    perform(machine.received(event))
                } catch let error as WebSocketProtocolError {
                    steps.append(.failed(error))
                    check([1002, 1007, 1009].contains(error.code), "protocol error with close code \(error.code)")
                    perform(machine.failed(error))
                    check(!transportOpen || machine.state == .closed, "failure left the machine in \(machine.state)")
                    return steps
                } catch {
                    fuzzFailure("next() threw a non-protocol error: \(error)")
                }
            }
        }
        return steps
    }

    static func checkEvent(_ event: WebSocketEvent, role: WebSocketFrameParser.Role, limits: WebSocketLimits, cut: Int) {
        switch event {
        case .text(let bytes):
            check(String(validating: bytes, as: UTF8.self) != nil, "text message is not valid UTF-8")
            check(bytes.count <= limits.maxMessageSize, "message of \(bytes.count) bytes over the limit")
        case .binary(let bytes):
            check(bytes.count <= limits.maxMessageSize, "message of \(bytes.count) bytes over the limit")
        case .ping(let payload), .pong(let payload):
            check(payload.count <= 125, "control payload of \(payload.count) bytes")
        case .dataChunk:
            fuzzFailure("chunks are joined into messages before they are checked")
        case .close(let code, let reason):
            if let code { check(WebSocketFrameParser.isValidReceivedCloseCode(code), "close code \(code) passed") }
            check(reason.utf8.count <= 123, "close reason of \(reason.utf8.count) bytes")
            if code == nil { check(reason.isEmpty, "close without a code has a reason") }
        }
        // Encode it again the way the peer would send it and parse that.
        let mask: [UInt8]? = role == .server ? [0x37, 0xFA, 0x21, 0x3D] : nil
        var frames: [UInt8] = []
        switch event {
        case .text(let bytes), .binary(let bytes):
            let opcode: WebSocketOpcode = if case .text = event { .text } else { .binary }
            // Fragments of the fuzzer's choosing (`cut` bytes each, none over the frame limit).
            let size = max(1, min(limits.maxFrameSize, cut == 0 ? bytes.count : cut))
            var start = 0
            repeat {
                let end = min(start + size, bytes.count)
                WebSocketFrameEncoder.encode(
                    start == 0 ? opcode : .continuation, payload: Array(bytes[start..<end]), fin: end == bytes.count,
                    maskKey: mask, into: &frames)
                start = end
            } while start < bytes.count
        case .ping(let payload):
            WebSocketFrameEncoder.encode(.ping, payload: payload, maskKey: mask, into: &frames)
        case .pong(let payload):
            WebSocketFrameEncoder.encode(.pong, payload: payload, maskKey: mask, into: &frames)
        case .close(let code, let reason):
            let payload = code.map { WebSocketFrameEncoder.closePayload(code: $0, reason: reason) } ?? []
            WebSocketFrameEncoder.encode(.close, payload: payload, maskKey: mask, into: &frames)
        case .dataChunk:
            return
        }
        var parser = WebSocketFrameParser(role: role, limits: limits)
        parser.append(frames)
        do {
            let again = try parser.next()
            check(again == event, "re-encoded \(event) parsed as \(String(describing: again))")
            check(parser.bufferedByteCount == 0, "re-encoded frame left bytes behind")
        } catch {
            fuzzFailure("re-encoded \(event) does not parse: \(error)")
        }
    }

    /// The validator, fed in two pieces, against `String(validating:)`.
    static func checkUTF8Validator(_ input: FuzzInput) {
        let bytes = input.payload
        var validator = UTF8Validator()
        let first = validator.feed(Array(bytes[..<input.cut]))
        let second = validator.feed(Array(bytes[input.cut...]))
        let ours = first && second && validator.isComplete
        let stdlib = String(validating: bytes, as: UTF8.self) != nil
        check(ours == stdlib, "UTF8Validator says \(ours), the standard library \(stdlib)")
        check(UTF8Validator.isValid(bytes) == stdlib, "UTF8Validator.isValid disagrees with the standard library")
        if !first { check(!second, "validator recovered after an invalid sequence") }
    }
}
