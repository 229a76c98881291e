/// Client → server frames: always masked (RFC 6455 §5.1), never fragmented.
enum ClientFrame {
    static let opText: UInt8 = 0x1
    static let opClose: UInt8 = 0x8
    static let opPong: UInt8 = 0xA

    static func appendText(_ payload: [UInt8], mask: UInt32, into out: inout [UInt8]) {
        payload.withUnsafeBytes { append(opcode: opText, payload: $0, mask: mask, into: &out) }
    }

    /// Appends one FIN frame with the masked `payload`.
    static func append(opcode: UInt8, payload: UnsafeRawBufferPointer, mask: UInt32, into out: inout [UInt8]) {
        out.append(0x80 | opcode)
        let n = payload.count
        if n <= 125 {
            out.append(0x80 | UInt8(n))
        } else if n <= 0xFFFF {
            out.append(0x80 | 126)
            out.append(UInt8(truncatingIfNeeded: n >> 8))
            out.append(UInt8(truncatingIfNeeded: n))
        } else {
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(n) >> UInt64(shift))) }
        }
        let key: [UInt8] = [
            UInt8(truncatingIfNeeded: mask >> 24), UInt8(truncatingIfNeeded: mask >> 16),
            UInt8(truncatingIfNeeded: mask >> 8), UInt8(truncatingIfNeeded: mask),
        ]
        out.append(contentsOf: key)
        var i = 0
        for b in payload {
            out.append(b ^ key[i & 3])
            i += 1
        }
    }
}
