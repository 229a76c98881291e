/// The close handshake and ping/pong rules of one WebSocket connection (RFC 6455 §5.5, §7), with no I/O.
///
/// The connection feeds it parser events and errors and performs the returned actions in order (none when there is
/// nothing to do).
///
/// ```
/// open ──received close──▶ (send close, close transport) ──▶ closed
///   │                                                          ▲
///   └──close()/──▶ closeSent ──received close / timeout────────┘
///      (send close)
/// ```
struct WebSocketStateMachine: Sendable {
    /// What the connection code must do.
    enum Action: Equatable, Sendable {
        /// Hand a complete text message to the application.
        case deliverText([UInt8])
        /// Hand a complete binary message to the application.
        case deliverBinary([UInt8])
        /// Streaming: hand the next bytes of a data message to the application (`last`: the message ends here).
        case deliverChunk(text: Bool, bytes: [UInt8], last: Bool)
        /// Send a pong frame with this payload.
        case sendPong([UInt8])
        /// Send a close frame (see `WebSocketFrameEncoder.closePayload`). After it, send no more frames.
        case sendClose(code: UInt16, reason: String)
        /// Close the TCP connection (after flushing what was queued).
        case closeTransport
        /// Nothing to do. The methods here return no action rather than `.none`; the case exists for callers that
        /// map actions one to one.
        case none
    }

    enum State: Equatable, Sendable {
        /// Data flows both ways.
        case open
        /// We sent a close frame and wait for the peer's (RFC 6455 §7.1.2); incoming data is dropped.
        case closeSent
        /// The close handshake is over (or the connection failed): the transport is closing or closed.
        case closed
    }

    /// The actions for one input, in order: never more than two, kept inline (no array per message).
    struct Actions: Sequence, Equatable, Sendable, ExpressibleByArrayLiteral {
        private var first: Action?
        private var second: Action?

        static let nothing = Actions()
        private init() {}
        init(_ action: Action) { first = action }
        init(_ action: Action, then next: Action) {
            first = action
            second = next
        }
        /// For tests and literals; more than two is a programming error.
        init(arrayLiteral elements: Action...) {
            precondition(elements.count <= 2, "a WebSocket input yields at most two actions")
            first = elements.first
            second = elements.count > 1 ? elements[1] : nil
        }

        func makeIterator() -> Iterator { Iterator(actions: self) }

        struct Iterator: IteratorProtocol {
            var actions: Actions
            mutating func next() -> Action? {
                defer {
                    actions.first = actions.second
                    actions.second = nil
                }
                return actions.first
            }
        }
    }

    private(set) var state: State = .open

    init() {}

    /// Decides what to do with an event from the parser.
    mutating func received(_ event: WebSocketEvent) -> Actions {
        switch (state, event) {
        case (.open, .text(let bytes)):
            return Actions(.deliverText(bytes))
        case (.open, .binary(let bytes)):
            return Actions(.deliverBinary(bytes))
        case (.open, .dataChunk(let text, let bytes, let last)):
            return Actions(.deliverChunk(text: text, bytes: bytes, last: last))
        case (.open, .ping(let payload)):
            return Actions(.sendPong(payload))
        case (.open, .close(let code, _)):
            // Echo the peer's code (§5.5.1). A close without a code is answered with 1000: 1005 ("no status") is
            // only a local placeholder and must not be sent.
            state = .closed
            return Actions(.sendClose(code: code ?? 1000, reason: ""), then: .closeTransport)
        case (.closeSent, .close):
            // Our close was answered: the handshake is complete, and the server closes the TCP connection first
            // (§7.1.1) so that the client doesn't sit in TIME_WAIT.
            state = .closed
            return Actions(.closeTransport)
        case (_, .pong):
            // Unsolicited pongs are allowed and need no answer (§5.5.3).
            return .nothing
        case (.closeSent, _), (.closed, _):
            // After our close frame we must not send a pong, and data is no longer wanted.
            return .nothing
        }
    }

    /// The parser found a protocol violation: fail the connection (§7.1.7) with its code.
    mutating func failed(_ error: WebSocketProtocolError) -> Actions {
        switch state {
        case .open:
            state = .closed
            return Actions(.sendClose(code: error.code, reason: error.reason), then: .closeTransport)
        case .closeSent:
            // A second close frame is not allowed; just drop the connection.
            state = .closed
            return Actions(.closeTransport)
        case .closed:
            return .nothing
        }
    }

    /// The server wants to close (normal shutdown or an application error). The transport stays open until the
    /// peer answers with its close frame or the caller's timer fires (`closeTimedOut()`).
    mutating func close(code: UInt16, reason: String) -> Actions {
        guard state == .open else { return .nothing }
        state = .closeSent
        return Actions(.sendClose(code: code, reason: reason))
    }

    /// The peer didn't answer our close frame in time.
    mutating func closeTimedOut() -> Actions {
        guard state == .closeSent else { return .nothing }
        state = .closed
        return Actions(.closeTransport)
    }

    /// The TCP connection went away (EOF or error): nothing more can be sent.
    mutating func transportClosed() {
        state = .closed
    }
}
