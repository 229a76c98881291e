/// Hex helpers shared by the crypto tests.
enum Hex {
    /// Lower-case hex of `bytes`.
    static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var out = ""
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return out
    }

    /// Bytes of a hex string, whitespace ignored (test literals only: traps on malformed input).
    static func decode(_ hex: String) -> [UInt8] {
        let chars = Array(hex.utf8.filter { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 })
        precondition(chars.count % 2 == 0, "odd hex literal")
        func nibble(_ c: UInt8) -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: preconditionFailure("bad hex digit")
            }
        }
        return stride(from: 0, to: chars.count, by: 2).map { nibble(chars[$0]) << 4 | nibble(chars[$0 + 1]) }
    }

    /// RFC 9380 prints field elements as big-endian integers; Curve25519 encodes them little-endian.
    static func littleEndian(fromBigEndian hex: String) -> [UInt8] {
        Array(decode(hex).reversed())
    }
}

/// Lower-case hex of `bytes` (every crypto test's expected values are written this way).
func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

/// Bytes of a hex literal, whitespace ignored.
func hex(_ string: String) -> [UInt8] { Hex.decode(string) }
