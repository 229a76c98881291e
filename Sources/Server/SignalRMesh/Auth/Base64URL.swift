/// Base64 with the URL- and filename-safe alphabet and no padding (RFC 4648 §5), as JWS uses it (RFC 7515 §2).
///
/// Decoding is strict, so that a token has exactly one accepted spelling: only the 64 alphabet characters
/// (`A–Z a–z 0–9 - _`), no `=` padding, no whitespace, a length that is not 1 more than a multiple of 4, and zero
/// bits in the unused low bits of the last character (a canonical encoding, RFC 4648 §3.5). Without that last rule
/// `…Xk` and `…Xl` could both decode to the same signature.
enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Maps an ASCII byte to its 6-bit value, or 0xFF when it is not in the alphabet.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, char) in alphabet.enumerated() { table[Int(char)] = UInt8(value) }
        return table
    }()

    /// Encodes `bytes` without padding.
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18)])
            out.append(alphabet[Int(n >> 12 & 0x3F)])
            out.append(alphabet[Int(n >> 6 & 0x3F)])
            out.append(alphabet[Int(n & 0x3F)])
            i += 3
        }
        switch bytes.count - i {
        case 1:
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18)])
            out.append(alphabet[Int(n >> 12 & 0x3F)])
        case 2:
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18)])
            out.append(alphabet[Int(n >> 12 & 0x3F)])
            out.append(alphabet[Int(n >> 6 & 0x3F)])
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes unpadded base64url.
    /// - Returns: the bytes, or nil when `input` is not a canonical unpadded encoding (see the type's notes).
    static func decode(_ input: some Collection<UInt8>) -> [UInt8]? {
        let count = input.count
        let tail = count % 4
        if tail == 1 { return nil }  // 6 bits cannot end a byte string
        var out = [UInt8]()
        out.reserveCapacity(count / 4 * 3 + (tail == 0 ? 0 : tail - 1))
        var quartet: UInt32 = 0
        var filled = 0
        for char in input {
            let value = decodeTable[Int(char)]
            if value == 0xFF { return nil }
            quartet = quartet << 6 | UInt32(value)
            filled += 1
            if filled == 4 {
                out.append(UInt8(truncatingIfNeeded: quartet >> 16))
                out.append(UInt8(truncatingIfNeeded: quartet >> 8))
                out.append(UInt8(truncatingIfNeeded: quartet))
                quartet = 0
                filled = 0
            }
        }
        switch filled {
        case 2:  // 12 bits → 1 byte; the low 4 bits must be zero.
            if quartet & 0x0F != 0 { return nil }
            out.append(UInt8(truncatingIfNeeded: quartet >> 4))
        case 3:  // 18 bits → 2 bytes; the low 2 bits must be zero.
            if quartet & 0x03 != 0 { return nil }
            out.append(UInt8(truncatingIfNeeded: quartet >> 10))
            out.append(UInt8(truncatingIfNeeded: quartet >> 2))
        default:
            break
        }
        return out
    }
}
