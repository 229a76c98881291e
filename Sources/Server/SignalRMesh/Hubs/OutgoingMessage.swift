/// A server→client hub message, serialized once, kept as the WebSocket text frame that carries it: server frames
/// are unmasked, so every recipient gets the same bytes, and the JSON is the frame minus its header.
struct OutgoingMessage: Sendable {
    let webSocketTextFrame: [UInt8]
    private let headerCount: Int

    /// Frames JSON bytes that are already encoded (with their 0x1E), e.g. from the backplane: copied once.
    init(json: UnsafeRawBufferPointer) {
        self.init(capacity: json.count) { $0.append(contentsOf: json) }
    }

    /// Lets `writeJSON` append the message after room left for the frame header, then fills the header in:
    /// one buffer for both. The room is the 4 bytes of a 126…65 535-byte payload's header; a shorter payload
    /// moves 2 bytes left, a longer one 6 bytes right.
    init(capacity: Int, writeJSON: (inout [UInt8]) throws -> Void) rethrows {
        var frame: [UInt8] = []
        frame.reserveCapacity(capacity + 10)
        frame.append(contentsOf: repeatElement(0, count: 4))
        try writeJSON(&frame)
        headerCount = WebSocketFrameEncoder.withHeader(.text, length: frame.count - 4, fin: true, masked: false) {
            frame.replaceSubrange(0..<4, with: $0)
            return $0.count
        }
        webSocketTextFrame = frame
    }

    /// The message's JSON (with its 0x1E), lent for the duration of `body`.
    func withJSON<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try webSocketTextFrame.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[headerCount...])) }
    }
}
