/// Base64 with the standard alphabet and `=` padding (RFC 4648 §4).
///
/// Decoding is strict, because its main caller validates `Sec-WebSocket-Key`: the length must be a multiple
/// of 4, only the 64 alphabet characters are allowed (no whitespace, no URL-safe `-`/`_`), `=` may appear only
/// as one or two final characters, and the unused bits before the padding must be zero (a canonical encoding,
/// RFC 4648 §3.5), so every byte string has exactly one accepted spelling.
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Maps an ASCII byte to its 6-bit value, or 0xFF when it is not in the alphabet.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, char) in alphabet.enumerated() { table[Int(char)] = UInt8(value) }
        return table
    }()

    private static let pad = UInt8(ascii: "=")

    /// Encodes `bytes` as padded standard Base64.
    /// - Parameter bytes: the data to encode.
    /// - Returns: the encoding; its length is `4 * ceil(bytes.count / 3)`.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        alphabet.withUnsafeBufferPointer { abc in
            var i = 0
            while i + 3 <= bytes.count {
                let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                out.append(abc[Int(n >> 18)])
                out.append(abc[Int(n >> 12 & 0x3F)])
                out.append(abc[Int(n >> 6 & 0x3F)])
                out.append(abc[Int(n & 0x3F)])
                i += 3
            }
            switch bytes.count - i {
            case 1:
                let n = UInt32(bytes[i]) << 16
                out.append(abc[Int(n >> 18)])
                out.append(abc[Int(n >> 12 & 0x3F)])
                out.append(pad)
                out.append(pad)
            case 2:
                let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
                out.append(abc[Int(n >> 18)])
                out.append(abc[Int(n >> 12 & 0x3F)])
                out.append(abc[Int(n >> 6 & 0x3F)])
                out.append(pad)
            default:
                break
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded standard Base64.
    /// - Parameter s: the encoded text.
    /// - Returns: the decoded bytes, or `nil` if `s` is not a canonical padded encoding (see the type's notes).
    public static func decode(_ s: String) -> [UInt8]? {
        var s = s  // `withUTF8` makes bridged strings contiguous, hence the mutable copy.
        return s.withUTF8 { decode($0) }
    }

    private static func decode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard input.count % 4 == 0 else { return nil }
        if input.isEmpty { return [] }
        var padding = 0
        if input[input.count - 1] == pad { padding += 1 }
        if input[input.count - 2] == pad { padding += 1 }
        // "x=y=" style: a second-to-last `=` needs a final `=` too.
        if padding == 1 && input[input.count - 2] == pad { return nil }

        var out = [UInt8]()
        out.reserveCapacity(input.count / 4 * 3 - padding)
        return decodeTable.withUnsafeBufferPointer { table -> [UInt8]? in
            let dataCount = input.count - padding
            var i = 0
            // Whole quartets without padding.
            while i + 4 <= dataCount {
                let a = table[Int(input[i])], b = table[Int(input[i + 1])]
                let c = table[Int(input[i + 2])], d = table[Int(input[i + 3])]
                // Any invalid character has the top bits set (0xFF), so one OR finds them all.
                if (a | b | c | d) & 0xC0 != 0 { return nil }
                let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                out.append(UInt8(truncatingIfNeeded: n >> 16))
                out.append(UInt8(truncatingIfNeeded: n >> 8))
                out.append(UInt8(truncatingIfNeeded: n))
                i += 4
            }
            switch padding {
            case 1:  // xyz= → 2 bytes; the low 2 bits of z must be zero.
                let a = table[Int(input[i])], b = table[Int(input[i + 1])], c = table[Int(input[i + 2])]
                if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 { return nil }
                let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                out.append(UInt8(truncatingIfNeeded: n >> 16))
                out.append(UInt8(truncatingIfNeeded: n >> 8))
            case 2:  // xy== → 1 byte; the low 4 bits of y must be zero.
                let a = table[Int(input[i])], b = table[Int(input[i + 1])]
                if (a | b) & 0xC0 != 0 || b & 0x0F != 0 { return nil }
                out.append(a << 2 | b >> 4)
            default:
                break
            }
            return out
        }
    }
}
