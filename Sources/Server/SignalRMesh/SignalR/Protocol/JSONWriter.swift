/// Compact JSON output appended to a byte array (no whitespace, members in the order given).
enum JSONWriter {
    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: appendASCII("null", to: &out)
        case .bool(let b): appendASCII(b ? "true" : "false", to: &out)
        case .number(var text):
            text.withUTF8 { out.append(contentsOf: $0) }
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            out.append(JSONByte.openBracket)
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(JSONByte.comma) }
                write(element, into: &out)
            }
            out.append(JSONByte.closeBracket)
        case .object(let members):
            out.append(JSONByte.openBrace)
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(JSONByte.comma) }
                writeString(member.0, into: &out)
                out.append(JSONByte.colon)
                write(member.1, into: &out)
            }
            out.append(JSONByte.closeBrace)
        }
    }

    /// Writes `s` as a JSON string literal: escapes `"`, `\` and the control characters below 0x20 (the
    /// short forms `\b \f \n \r \t`, else `\u00XX`); everything else, non-ASCII included, is copied as UTF-8.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        var s = s
        s.withUTF8 { writeString(utf8: UnsafeRawBufferPointer($0), into: &out) }
    }

    /// ``writeString(_:into:)`` for text that is already UTF-8 bytes.
    static func writeString(utf8 bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(JSONByte.quote)
        var runStart = 0
        let n = bytes.count
        var i = 0
        while i < n {
            let b = bytes[i]
            if b >= 0x20 && b != JSONByte.quote && b != JSONByte.backslash {
                i += 1
                continue
            }
            // Flush the run of bytes that need no escaping, then the escape.
            if runStart < i { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i])) }
            out.append(JSONByte.backslash)
            switch b {
            case JSONByte.quote: out.append(JSONByte.quote)
            case JSONByte.backslash: out.append(JSONByte.backslash)
            case 0x08: out.append(0x62)
            case 0x0C: out.append(0x66)
            case 0x0A: out.append(0x6E)
            case 0x0D: out.append(0x72)
            case 0x09: out.append(0x74)
            default:
                let hex: StaticString = "0123456789abcdef"
                out.append(JSONByte.lowerU)
                out.append(JSONByte.zero)
                out.append(JSONByte.zero)
                out.append(hex.utf8Start[Int(b >> 4)])
                out.append(hex.utf8Start[Int(b & 0x0F)])
            }
            i += 1
            runStart = i
        }
        if runStart < n { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<n])) }
        out.append(JSONByte.quote)
    }

    /// Appends the decimal text of `value`.
    static func writeInteger(_ value: Int64, into out: inout [UInt8]) {
        if value >= 0 && value < 10 {
            out.append(JSONByte.zero + UInt8(value))
            return
        }
        // 20 bytes hold any Int64 with its sign; build right to left in a 24-byte stack buffer.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var magnitude = value.magnitude
            var i = buffer.count
            repeat {
                i -= 1
                buffer[i] = JSONByte.zero + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                i -= 1
                buffer[i] = JSONByte.minus
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i...]))
        }
    }

    /// Appends the bytes of a static ASCII string.
    @inline(__always) static func appendASCII(_ s: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
}
