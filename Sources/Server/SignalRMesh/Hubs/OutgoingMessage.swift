import NetKit

/// A server→client hub message, serialized once and shared by every recipient on this replica.
///
/// It starts as JSON (how hubs write it and how the backplane carries it); the other encodings a recipient needs
/// (MessagePack, a WebSocket binary frame, a Server-Sent Events event) are made on first use, once per message,
/// and kept: a broadcast costs one encoding per protocol and one framing per transport in use, not per connection.
/// Server WebSocket frames are unmasked, so a frame is the same bytes for every recipient; each encoding is
/// stored as its frame with the hub bytes after the header.
///
/// Made on any thread; the lazily made encodings are only touched on the replica's loop (where every delivery
/// happens), hence `@unchecked Sendable`.
final class OutgoingMessage: @unchecked Sendable {
    private static let logger = Logger(label: "hub")
    /// The JSON encoding (with its 0x1E) as a WebSocket text frame.
    let webSocketTextFrame: [UInt8]
    private let textHeaderCount: Int
    /// The MessagePack encoding (with its VarInt length) as a WebSocket binary frame; made on first use.
    private var binaryFrame: [UInt8]?
    private var binaryHeaderCount = 0
    /// The JSON as one Server-Sent Events event; made on first use.
    private var sseEvent: [UInt8]?
    /// Whether stateful reconnect numbers and keeps this message (``HubMessage/isSequenced``): true for the
    /// Invocations hubs and the backplane send, false for the shared Ping.
    let isSequenced: Bool

    /// Frames JSON bytes that are already encoded (with their 0x1E), e.g. from the backplane: copied once.
    /// `messagePack`, when given, is the same message already encoded in MessagePack (with its length prefix).
    /// `isSequenced`: the backplane carries Invocations only.
    convenience init(json: UnsafeRawBufferPointer, messagePack: UnsafeRawBufferPointer? = nil, isSequenced: Bool = true) {
        self.init(capacity: json.count, isSequenced: isSequenced) { $0.append(contentsOf: json) }
        if let messagePack { setBinary(Array(messagePack)) }
    }

    /// Lets `writeJSON` append the message after room left for the frame header, then fills the header in:
    /// one buffer for both. `isSequenced`: whether the message is one stateful reconnect tracks (an Invocation is).
    init(capacity: Int, isSequenced: Bool = true, writeJSON: (inout [UInt8]) throws -> Void) rethrows {
        (webSocketTextFrame, textHeaderCount) = try Self.frame(.text, capacity: capacity, write: writeJSON)
        self.isSequenced = isSequenced
    }

    /// Encodes `message` in JSON (and nothing else until a recipient needs it).
    convenience init(_ message: HubMessage) {
        self.init(capacity: 128, isSequenced: message.isSequenced) { JSONHubProtocol.encode(message, into: &$0) }
    }

    /// The message's JSON (with its 0x1E), lent for the duration of `body`.
    func withJSON<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try webSocketTextFrame.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[textHeaderCount...])) }
    }

    /// The WebSocket frame carrying this message in `kind`: text for JSON, binary for MessagePack.
    func webSocketFrame(_ kind: HubProtocolKind) -> [UInt8] {
        switch kind {
        case .json: return webSocketTextFrame
        case .messagePack: return binaryWebSocketFrame()
        }
    }

    /// The framed hub-protocol bytes of this message in `kind` (no transport framing), lent to `body`.
    func withPayload<R>(_ kind: HubProtocolKind, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch kind {
        case .json:
            return try withJSON(body)
        case .messagePack:
            let frame = binaryWebSocketFrame()
            let start = binaryHeaderCount
            return try frame.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        }
    }

    /// The JSON as one Server-Sent Events event (SSE carries text only).
    func serverSentEvent() -> [UInt8] {
        if let sseEvent { return sseEvent }
        let event = withJSON { ServerSentEvents.event($0) }
        sseEvent = event
        return event
    }

    private func binaryWebSocketFrame() -> [UInt8] {
        if let binaryFrame { return binaryFrame }
        // Decoded back from our own JSON: it can't fail for messages this server wrote. A backplane message from
        // another replica that does fail reaches MessagePack clients as an empty frame (no hub message) rather than
        // trapping, and says so in the log (once per message, not per recipient: the frame is cached).
        var encoded: [UInt8] = []
        do {
            let message = try withJSON { json in try JSONHubProtocol.parse(UnsafeRawBufferPointer(rebasing: json.dropLast())) }
            HubProtocols.of(kind: .messagePack).write(message, into: &encoded)
        } catch {
            Self.logger.warning("message not sent to MessagePack clients", [
                "reason": "its JSON could not be read back: \(error)", "bytes": "\(withJSON { $0.count })",
            ])
        }
        setBinary(encoded)
        return binaryFrame!
    }

    private func setBinary(_ encoded: [UInt8]) {
        (binaryFrame, binaryHeaderCount) = Self.frame(.binary, capacity: encoded.count) { $0.append(contentsOf: encoded) }
    }

    /// The room left is the 4 bytes of a 126…65 535-byte payload's header; a shorter payload moves 2 bytes left,
    /// a longer one 6 bytes right.
    private static func frame(
        _ opcode: WebSocketOpcode, capacity: Int, write: (inout [UInt8]) throws -> Void
    ) rethrows -> ([UInt8], Int) {
        var frame: [UInt8] = []
        frame.reserveCapacity(capacity + 10)
        frame.append(contentsOf: repeatElement(0, count: 4))
        try write(&frame)
        let headerCount = WebSocketFrameEncoder.withHeader(opcode, length: frame.count - 4, fin: true, masked: false) {
            frame.replaceSubrange(0..<4, with: $0)
            return $0.count
        }
        return (frame, headerCount)
    }
}
