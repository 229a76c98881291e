/// Incremental parser for server → client WebSocket frames: feed it bytes in any pieces, pull events.
///
/// Checks what a client must (no masking from a server, no reserved bits, control frames ≤ 125 bytes and
/// unfragmented, continuation only inside a message) and caps a message at `maxMessageBytes`.
struct ServerFrameParser {
    /// Largest data message accepted (default 1 MiB: the chat server's messages are far smaller).
    let maxMessageBytes: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var partialOpcode: UInt8?
    private var partial: [UInt8] = []

    init(maxMessageBytes: Int = 1 << 20) {
        self.maxMessageBytes = maxMessageBytes
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if readIndex > 0 && readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex > 4096 && readIndex * 2 > buffer.count {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next event, or nil when more bytes are needed.
    mutating func next() throws(WireError) -> ServerFrameEvent? {
        try next(borrowingText: false) { _ in }
    }

    /// Like ``next()``, but every whole unfragmented text frame before the event goes to `text` as a view of the
    /// parser's buffer, valid only during the call: no copy and no allocation per message, which is what a load
    /// client reading millions of broadcasts a second needs. Fragmented text still comes back as `.text`.
    mutating func next(borrowingText text: (UnsafeRawBufferPointer) -> Void) throws(WireError) -> ServerFrameEvent? {
        try next(borrowingText: true, text)
    }

    private mutating func next(
        borrowingText borrow: Bool, _ text: (UnsafeRawBufferPointer) -> Void
    ) throws(WireError) -> ServerFrameEvent? {
        while true {
            let available = buffer.count - readIndex
            guard available >= 2 else { return nil }
            let b0 = buffer[readIndex]
            let b1 = buffer[readIndex + 1]
            guard b0 & 0x70 == 0 else { throw WireError("reserved bits set in a server frame") }
            guard b1 & 0x80 == 0 else { throw WireError("masked server frame") }
            let fin = b0 & 0x80 != 0
            let opcode = b0 & 0x0F
            var header = 2
            var length = Int(b1 & 0x7F)
            if length == 126 {
                guard available >= 4 else { return nil }
                length = Int(buffer[readIndex + 2]) << 8 | Int(buffer[readIndex + 3])
                header = 4
            } else if length == 127 {
                guard available >= 10 else { return nil }
                var v: UInt64 = 0
                for k in 2..<10 { v = v << 8 | UInt64(buffer[readIndex + k]) }
                guard v <= UInt64(maxMessageBytes) else { throw WireError("frame of \(v) bytes is over the limit") }
                length = Int(v)
                header = 10
            }
            let isControl = opcode & 0x8 != 0
            if isControl && (!fin || length > 125) { throw WireError("bad control frame") }
            if length > maxMessageBytes { throw WireError("frame of \(length) bytes is over the limit") }
            guard available >= header + length else { return nil }
            let start = readIndex + header
            readIndex = start + length
            if borrow && opcode == 0x1 && fin && partialOpcode == nil {
                buffer.withUnsafeBytes { text(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
                continue
            }
            let payload = Array(buffer[start..<(start + length)])
            switch opcode {
            case 0x0:
                guard let op = partialOpcode else { throw WireError("continuation frame outside a message") }
                guard partial.count + length <= maxMessageBytes else { throw WireError("message over the limit") }
                partial.append(contentsOf: payload)
                if fin {
                    let message = partial
                    partial = []
                    partialOpcode = nil
                    return op == 0x1 ? .text(message) : .binary(message)
                }
            case 0x1, 0x2:
                guard partialOpcode == nil else { throw WireError("new data frame inside a fragmented message") }
                if fin { return opcode == 0x1 ? .text(payload) : .binary(payload) }
                partialOpcode = opcode
                partial = payload
            case 0x8:
                return .close(code: payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil)
            case 0x9:
                return .ping(payload)
            case 0xA:
                return .pong
            default:
                throw WireError("reserved opcode \(opcode)")
            }
        }
    }
}
