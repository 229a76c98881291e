// RFC 6455 §5: frame format, fragmentation, control frames, and the checks that make the connection fail.

/// A WebSocket frame opcode (RFC 6455 §5.2). Codes 3–7 and 11–15 are reserved and have no case.
enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0
    case text = 1
    case binary = 2
    case close = 8
    case ping = 9
    case pong = 10

    /// Control frames (close, ping, pong) have the high bit of the opcode set.
    var isControl: Bool { rawValue & 0x8 != 0 }
}

/// Size limits for inbound frames and messages.
///
/// Both are checked against the length in a frame header, before any of the payload is buffered, so a peer can't
/// make us allocate more than the limit by announcing a huge frame.
struct WebSocketLimits: Sendable, Equatable {
    /// The largest payload one frame may announce. The default (16 MiB + 64) lets the Autobahn echo endpoint take
    /// its 16 MiB single-frame cases; the SignalR endpoint passes something much smaller.
    var maxFrameSize: Int = 16 << 20 + 64
    /// The largest total payload of one (possibly fragmented) data message. Default as for `maxFrameSize`.
    var maxMessageSize: Int = 16 << 20 + 64

    init(maxFrameSize: Int = 16 << 20 + 64, maxMessageSize: Int = 16 << 20 + 64) {
        self.maxFrameSize = maxFrameSize
        self.maxMessageSize = maxMessageSize
    }
}

/// What the parser produces: whole data messages (fragments already joined) and control frames; or, from a
/// streaming parser, data as it arrives (``dataChunk(text:bytes:last:)``) instead of whole messages.
enum WebSocketEvent: Equatable, Sendable {
    /// A complete text message; the bytes are valid UTF-8.
    case text([UInt8])
    case binary([UInt8])
    /// Streaming parsers only: the next payload bytes of a data message, in order, as they arrived. `last` marks
    /// the end of the message (its chunk may be empty). Text is validated as it arrives, but a chunk may end
    /// inside a UTF-8 sequence; the message as a whole is valid once `last` came.
    case dataChunk(text: Bool, bytes: [UInt8], last: Bool)
    case ping([UInt8])
    case pong([UInt8])
    /// A close frame. `code` is nil when the frame had no payload; otherwise it is a valid code and `reason` is the
    /// (validated UTF-8) text after it.
    case close(code: UInt16?, reason: String)
}

/// Why the connection must be failed (RFC 6455 §7.1.7), with the close code to send.
struct WebSocketProtocolError: Error, Equatable, Sendable {
    /// The close status code to send: 1002, 1007 or 1009.
    var code: UInt16
    /// A short reason, safe to put in the close frame (ASCII, well under 123 bytes).
    var reason: String

    init(code: UInt16, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// 1002: the peer broke the framing rules.
    static func protocolError(_ reason: String) -> Self { Self(code: 1002, reason: reason) }
    /// 1007: a text message or close reason is not valid UTF-8.
    static func invalidUTF8(_ reason: String) -> Self { Self(code: 1007, reason: reason) }
    /// 1009: a frame or message is larger than our limits.
    static func tooBig(_ reason: String) -> Self { Self(code: 1009, reason: reason) }
}

/// An incremental RFC 6455 frame parser: feed it bytes in any pieces with `append`, then call `next()` until it
/// returns nil.
///
/// It joins fragmented data messages (control frames may come in between), unmasks payloads, validates text as it
/// arrives, and enforces every rule whose violation must fail the connection. It does no I/O and does not answer
/// pings or close frames: ``WebSocketStateMachine`` decides that.
///
/// A *streaming* parser (`streaming: true`) never assembles a message: it hands out each data frame's payload as
/// it arrives (``WebSocketEvent/dataChunk(text:bytes:last:)``), so what it holds is bounded by one read whatever
/// the message size, and the consumer applies its own limit (the hub's 0x1E framer does).
///
/// Payload bytes are moved out of the input buffer as soon as they arrive (unmasked, into the message being
/// built), so the input buffer only ever holds a few header bytes plus whatever the last `append` brought, and an
/// invalid UTF-8 sequence is reported while the rest of its frame is still on the wire.
///
/// ```swift
/// var parser = WebSocketFrameParser(role: .server)
/// parser.append(bytesFromSocket)
/// while let event = try parser.next() { … }
/// ```
struct WebSocketFrameParser {
    /// Which end we are. Clients must mask every frame and servers must not (RFC 6455 §5.1).
    enum Role: Sendable {
        /// We are the server: the peer must mask.
        case server
        /// We are the client: the peer must not mask.
        case client
    }

    /// A parsed frame header.
    private struct FrameHeader {
        var fin: Bool
        var opcode: WebSocketOpcode
        var length: Int
        var maskKey: (UInt8, UInt8, UInt8, UInt8)?
    }

    let role: Role
    let limits: WebSocketLimits
    /// Hand out data as it arrives instead of whole messages.
    let streaming: Bool

    /// Unparsed input starts at `readIndex`; bytes before it are consumed and dropped lazily (see `compact`).
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Set by the first error; from then on `next()` rethrows it and input is ignored.
    private var failure: WebSocketProtocolError?

    /// The frame whose payload is being read, or nil while waiting for a header.
    private var frame: FrameHeader?
    /// Payload bytes of `frame` not read yet.
    private var remaining = 0

    /// `.text` or `.binary` while a data message is being assembled, nil between messages.
    private var messageOpcode: WebSocketOpcode?
    /// Payload bytes of the current data message so far (announced frames count in full for the size limit).
    private var messageLength = 0
    /// Streaming: `message` holds payload not handed out yet.
    private var chunkReady = false
    /// The message being assembled. After it is delivered the array keeps the last message (the receiver got it
    /// by reference, no copy) and is emptied when the next one begins: by then the receiver is done with it, so
    /// a small buffer is reused instead of allocating one per message.
    private var message: [UInt8] = []
    /// Largest message buffer kept for reuse; a bigger one is let go once delivered (an idle connection must
    /// stay small).
    static let reusedMessageCapacity = 512
    /// Streaming: largest chunk buffer kept for reuse (one read is at most 64 KiB).
    static let reusedChunkCapacity = 64 * 1024
    private var utf8 = UTF8Validator()
    /// Payload of the control frame being read (at most 125 bytes).
    private var control: [UInt8] = []

    init(role: Role = .server, limits: WebSocketLimits = .init(), streaming: Bool = false) {
        self.role = role
        self.limits = limits
        self.streaming = streaming
    }

    /// Input bytes not yet parsed (a partial header, or payload `next()` hasn't moved yet).
    var bufferedByteCount: Int { buffer.count - readIndex }

    // MARK: Input

    /// Adds bytes read from the connection. Ignored after a failure.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, !bytes.isEmpty else { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Adds bytes read from the connection. Ignored after a failure.
    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Drops consumed input. When everything is consumed this is free; otherwise the unparsed tail is moved to the
    /// front only once at least half of the buffer is garbage, so each byte is moved O(1) times overall (calling
    /// `removeFirst` per frame would make many small frames in one read quadratic).
    private mutating func compact() {
        if readIndex == buffer.count {
            // Don't let one huge read pin a huge buffer for the life of an idle connection.
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
            readIndex = 0
        } else if readIndex >= 4096 && readIndex * 2 >= buffer.count {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }

    /// Bytes of buffer capacity the parser holds (tests: what an idle connection keeps).
    var retainedCapacity: Int { buffer.capacity + message.capacity + control.capacity }

    /// Lets go of the buffers kept for reuse (input, message or chunk, control payload) when nothing in them is
    /// still needed: all input parsed, no frame or message under way. A connection that goes quiet then holds no
    /// buffer; the next read allocates again. Anything still needed is kept.
    mutating func releaseIdleBuffers() {
        guard frame == nil, messageOpcode == nil, !chunkReady, readIndex == buffer.count else { return }
        buffer = []
        readIndex = 0
        message = []
        control = []
    }

    // MARK: Parsing

    /// Returns the next complete message or control frame.
    /// - Returns: the event, or nil when more input is needed.
    /// - Throws: `WebSocketProtocolError` when the peer broke the protocol; the parser stays failed and every
    ///   later call throws the same error.
    mutating func next() throws -> WebSocketEvent? {
        if let failure { throw failure }
        do {
            return try parse()
        } catch {
            failure = error
            // Nothing more will be parsed: free the memory now.
            buffer = []
            readIndex = 0
            message = []
            control = []
            throw error
        }
    }

    private mutating func parse() throws(WebSocketProtocolError) -> WebSocketEvent? {
        while true {
            if frame == nil {
                guard let header = try parseHeader() else { return nil }
                begin(header)
            }
            let n = min(remaining, buffer.count - readIndex)
            if n > 0 { try consumePayload(n) }
            if streaming, let header = frame, !header.opcode.isControl {
                if remaining > 0 { return takeChunk(last: false) }
                frame = nil
                guard header.fin else {
                    if let chunk = takeChunk(last: false) { return chunk }
                    continue
                }
                if messageOpcode == .text && !utf8.isComplete {
                    throw .invalidUTF8("text message ends inside a UTF-8 sequence")
                }
                return takeChunk(last: true)
            }
            if remaining > 0 { return nil }
            let header = frame!
            frame = nil
            if let event = try finish(header) { return event }
        }
    }

    /// Streaming: the payload moved since the last chunk, or nil when there is none and this isn't the end of the
    /// message. The bytes are handed out by reference; the buffer is emptied (and, if the receiver let go of it,
    /// reused) when the next payload arrives.
    private mutating func takeChunk(last: Bool) -> WebSocketEvent? {
        let ready = chunkReady && !message.isEmpty
        guard ready || last else { return nil }
        chunkReady = false
        let text = messageOpcode == .text
        if last { messageOpcode = nil }
        return .dataChunk(text: text, bytes: ready ? message : [], last: last)
    }

    /// Parses and checks the header at `readIndex`. Every check is made as soon as the bytes it needs are here:
    /// the first two bytes settle everything but the size limits.
    private mutating func parseHeader() throws(WebSocketProtocolError) -> FrameHeader? {
        let available = buffer.count - readIndex
        guard available >= 2 else { return nil }
        let b0 = buffer[readIndex]
        let b1 = buffer[readIndex + 1]

        // No extension is negotiated, so all RSV bits must be zero.
        guard b0 & 0x70 == 0 else { throw .protocolError("reserved bits set") }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else { throw .protocolError("reserved opcode") }
        let fin = b0 & 0x80 != 0
        let masked = b1 & 0x80 != 0
        let length7 = Int(b1 & 0x7F)

        switch role {
        case .server: guard masked else { throw .protocolError("client frame not masked") }
        case .client: guard !masked else { throw .protocolError("server frame masked") }
        }
        if opcode.isControl {
            guard fin else { throw .protocolError("fragmented control frame") }
        } else if opcode == .continuation {
            guard messageOpcode != nil else { throw .protocolError("continuation without a message") }
        } else {
            guard messageOpcode == nil else { throw .protocolError("new message inside a fragmented one") }
        }

        let lengthBytes = length7 == 126 ? 2 : (length7 == 127 ? 8 : 0)
        let headerLength = 2 + lengthBytes + (masked ? 4 : 0)
        guard available >= headerLength else { return nil }

        // Non-minimal length encodings (e.g. 5 in the 16-bit form) are legal: RFC 6455 says "the minimal number of
        // bytes MUST be used", but Autobahn and every major implementation accept them, and they are harmless.
        var length = length7
        var offset = readIndex + 2
        if lengthBytes > 0 {
            var value: UInt64 = 0
            for i in 0..<lengthBytes { value = value << 8 | UInt64(buffer[offset + i]) }
            guard value >> 63 == 0 else { throw .protocolError("64-bit length with the high bit set") }
            offset += lengthBytes
            // The limit check below must not be fooled by a value that doesn't fit in Int.
            length = value > UInt64(Int.max) ? Int.max : Int(value)
        }

        if opcode.isControl {
            // Checked on the decoded value rather than the 7-bit field, so that a non-minimal encoding of a short
            // control payload is treated like any other non-minimal length.
            guard length <= 125 else { throw .protocolError("control frame too long") }
        } else {
            guard length <= limits.maxFrameSize else { throw .tooBig("frame too big") }
            let assembled = opcode == .continuation ? messageLength : 0
            guard length <= limits.maxMessageSize - assembled else { throw .tooBig("message too big") }
        }

        var maskKey: (UInt8, UInt8, UInt8, UInt8)?
        if masked {
            maskKey = (buffer[offset], buffer[offset + 1], buffer[offset + 2], buffer[offset + 3])
        }
        readIndex += headerLength
        return FrameHeader(fin: fin, opcode: opcode, length: length, maskKey: maskKey)
    }

    private mutating func begin(_ header: FrameHeader) {
        frame = header
        remaining = header.length
        if header.opcode.isControl {
            control.removeAll(keepingCapacity: true)
        } else if header.opcode != .continuation {
            messageOpcode = header.opcode
            messageLength = 0
            // Streaming, the chunk buffer is emptied as the payload arrives (consumePayload), and kept larger.
            if !streaming { message.removeAll(keepingCapacity: message.capacity <= Self.reusedMessageCapacity) }
            utf8.reset()
            // Reserve only for bytes that have already arrived: reserving the announced length would let a peer
            // make us allocate up to the limit per connection without sending the data.
            if header.fin && !streaming { message.reserveCapacity(min(header.length, buffer.count - readIndex)) }
        }
        if !header.opcode.isControl { messageLength += header.length }
    }

    /// Moves `n` payload bytes of the current frame from the input to the message (or control payload),
    /// unmasking them and, for text, validating them on the way.
    private mutating func consumePayload(_ n: Int) throws(WebSocketProtocolError) {
        let header = frame!
        let phase = header.length - remaining  // position in the frame payload, for the mask rotation
        let chunk = buffer[readIndex..<(readIndex + n)]
        readIndex += n
        remaining -= n

        if header.opcode.isControl {
            let start = control.count
            control.append(contentsOf: chunk)
            if let key = header.maskKey {
                control.withUnsafeMutableBytes { WebSocketMask.apply(key: key, phase: phase, to: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
            }
            return
        }
        if streaming && !chunkReady {
            // The previous chunk was handed out already: keep only what arrives now (one read at most).
            message.removeAll(keepingCapacity: message.capacity <= Self.reusedChunkCapacity)
            chunkReady = true
        }
        let start = message.count
        message.append(contentsOf: chunk)
        if let key = header.maskKey {
            message.withUnsafeMutableBytes { WebSocketMask.apply(key: key, phase: phase, to: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
        }
        if messageOpcode == .text {
            // Fail fast: report the first bad sequence now, even though the frame isn't complete.
            let valid = message.withUnsafeBytes { utf8.feed(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            guard valid else { throw .invalidUTF8("invalid UTF-8 in text message") }
        }
    }

    /// Called when a frame's payload is complete; returns an event if the frame completes one.
    private mutating func finish(_ header: FrameHeader) throws(WebSocketProtocolError) -> WebSocketEvent? {
        switch header.opcode {
        case .ping:
            return .ping(control)
        case .pong:
            return .pong(control)
        case .close:
            return try closeEvent(control)
        case .text, .binary, .continuation:
            guard header.fin else { return nil }
            if messageOpcode == .text && !utf8.isComplete {
                throw .invalidUTF8("text message ends inside a UTF-8 sequence")
            }
            let payload = message
            let opcode = messageOpcode
            if message.capacity > Self.reusedMessageCapacity { message = [] }
            messageOpcode = nil
            return opcode == .text ? .text(payload) : .binary(payload)
        }
    }

    /// Checks a close frame's payload (RFC 6455 §5.5.1, §7.4).
    private func closeEvent(_ payload: [UInt8]) throws(WebSocketProtocolError) -> WebSocketEvent {
        if payload.isEmpty { return .close(code: nil, reason: "") }
        guard payload.count >= 2 else { throw .protocolError("close payload of one byte") }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard Self.isValidReceivedCloseCode(code) else { throw .protocolError("invalid close code") }
        let reason = Array(payload[2...])
        guard UTF8Validator.isValid(reason) else { throw .invalidUTF8("invalid UTF-8 in close reason") }
        return .close(code: code, reason: String(decoding: reason, as: UTF8.self))
    }

    /// Whether a peer may send `code` in a close frame.
    ///
    /// 1004 is reserved, 1005/1006/1015 are local-only placeholders that must never be on the wire, codes below
    /// 1000 and 1016–2999 are unassigned or reserved for future RFCs, and 5000+ doesn't exist. 1012–1014 were
    /// registered after RFC 6455; we reject them too, because older Autobahn releases (case 7.9.x) list them as
    /// invalid and no client we target sends them.
    static func isValidReceivedCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: return true
        default: return false
        }
    }
}
