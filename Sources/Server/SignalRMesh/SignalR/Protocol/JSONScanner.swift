/// A cursor over one JSON document held in memory.
///
/// It is the shared engine of ``JSONParser`` and of the hub-protocol envelope reader, which walks the top-level
/// object itself (matching keys on raw bytes, skipping unknown members without allocating) and only builds
/// ``JSONValue``s for the parts it keeps. Strings are validated in one pass (UTF-8, escapes, surrogate pairs)
/// and turned into a `String` at most once. The buffer must stay valid while the scanner is in use.
struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    var pos: Int = 0
    let maxDepth: Int
    /// How many arrays/objects are open at `pos`.
    var depth: Int = 0

    init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    // MARK: Basics

    /// The byte at `pos`, or 0 past the end. 0 is never valid where the scanner looks at a byte, so treating
    /// the end as 0 keeps the hot loops free of optionals; error messages check `pos` to tell the cases apart.
    @inline(__always) var current: UInt8 { pos < bytes.count ? bytes[pos] : 0 }

    @inline(__always) var atEnd: Bool { pos >= bytes.count }

    func syntaxError(_ message: String) -> JSONError { .syntax(offset: pos, message) }

    func unexpected(_ expecting: String) -> JSONError {
        if atEnd { return .syntax(offset: pos, "unexpected end of input, expected \(expecting)") }
        return .syntax(offset: pos, "unexpected byte 0x\(String(bytes[pos], radix: 16)), expected \(expecting)")
    }

    @inline(__always) mutating func skipWhitespace() {
        while pos < bytes.count {
            let b = bytes[pos]
            // RFC 8259 whitespace is exactly these four.
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            pos += 1
        }
    }

    /// After the top-level value: only whitespace may follow.
    mutating func expectEnd() throws {
        skipWhitespace()
        guard atEnd else { throw syntaxError("unexpected data after the JSON value") }
    }

    /// Consumes `byte` (after optional whitespace) or throws.
    @inline(__always) mutating func expect(_ byte: UInt8, _ what: String) throws {
        skipWhitespace()
        guard current == byte else { throw unexpected(what) }
        pos += 1
    }

    @inline(__always) mutating func enterContainer() throws {
        depth += 1
        if depth > maxDepth { throw JSONError.tooDeep }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let n = literal.utf8CodeUnitCount
        guard pos + n <= bytes.count else { throw unexpected("'\(literal)'") }
        let p = literal.utf8Start
        for i in 0..<n where bytes[pos + i] != p[i] {
            pos += i
            throw unexpected("'\(literal)'")
        }
        pos += n
    }

    // MARK: Values

    /// Parses the value at `pos` (no leading whitespace) and leaves `pos` just after it.
    mutating func parseValue() throws -> JSONValue {
        switch current {
        case JSONByte.quote:
            return .string(try parseString())
        case JSONByte.openBrace:
            return try parseObject()
        case JSONByte.openBracket:
            return .array(try parseArray())
        case JSONByte.lowerT:
            try expectLiteral("true")
            return .bool(true)
        case JSONByte.lowerF:
            try expectLiteral("false")
            return .bool(false)
        case JSONByte.lowerN:
            try expectLiteral("null")
            return .null
        case JSONByte.minus, JSONByte.zero...JSONByte.nine:
            let range = try scanNumber()
            return .number(string(asciiRange: range))
        default:
            throw unexpected("a JSON value")
        }
    }

    /// Parses an array at `pos` (which must be `[`).
    mutating func parseArray() throws -> [JSONValue] {
        try enterContainer()
        pos += 1
        skipWhitespace()
        var elements: [JSONValue] = []
        if current == JSONByte.closeBracket {
            pos += 1
            depth -= 1
            return elements
        }
        // Hub argument lists are short: one allocation up front beats growing 1 → 2 → 4.
        elements.reserveCapacity(4)
        while true {
            elements.append(try parseValue())
            skipWhitespace()
            switch current {
            case JSONByte.comma:
                pos += 1
                skipWhitespace()
            case JSONByte.closeBracket:
                pos += 1
                depth -= 1
                return elements
            default:
                throw unexpected("',' or ']'")
            }
        }
    }

    private mutating func parseObject() throws -> JSONValue {
        var members: [(String, JSONValue)] = []
        try forEachMember { scanner, key in
            let name = scanner.string(key)
            members.append((name, try scanner.parseValue()))
        }
        return .object(members)
    }

    /// Walks an object at `pos` (which must be `{`), calling `body` once per member with the key's token and
    /// `pos` at the member's value (whitespace skipped). `body` must consume exactly that value.
    mutating func forEachMember(_ body: (inout JSONScanner, JSONStringToken) throws -> Void) throws {
        guard current == JSONByte.openBrace else { throw unexpected("'{'") }
        try enterContainer()
        pos += 1
        skipWhitespace()
        if current == JSONByte.closeBrace {
            pos += 1
            depth -= 1
            return
        }
        while true {
            guard current == JSONByte.quote else { throw unexpected("a property name") }
            let key = try scanString()
            try expect(JSONByte.colon, "':'")
            skipWhitespace()
            try body(&self, key)
            skipWhitespace()
            switch current {
            case JSONByte.comma:
                pos += 1
                skipWhitespace()
            case JSONByte.closeBrace:
                pos += 1
                depth -= 1
                return
            default:
                throw unexpected("',' or '}'")
            }
        }
    }

    /// Validates and steps over the value at `pos` without building anything.
    mutating func skipValue() throws {
        switch current {
        case JSONByte.quote:
            _ = try scanString()
        case JSONByte.openBrace:
            try forEachMember { scanner, _ in try scanner.skipValue() }
        case JSONByte.openBracket:
            try enterContainer()
            pos += 1
            skipWhitespace()
            if current == JSONByte.closeBracket {
                pos += 1
                depth -= 1
                return
            }
            while true {
                try skipValue()
                skipWhitespace()
                switch current {
                case JSONByte.comma:
                    pos += 1
                    skipWhitespace()
                case JSONByte.closeBracket:
                    pos += 1
                    depth -= 1
                    return
                default:
                    throw unexpected("',' or ']'")
                }
            }
        case JSONByte.lowerT: try expectLiteral("true")
        case JSONByte.lowerF: try expectLiteral("false")
        case JSONByte.lowerN: try expectLiteral("null")
        case JSONByte.minus, JSONByte.zero...JSONByte.nine: _ = try scanNumber()
        default: throw unexpected("a JSON value")
        }
    }

    /// Steps over the value at `pos` (validating it) and returns its exact bytes' range.
    mutating func skipValueRange() throws -> Range<Int> {
        let start = pos
        try skipValue()
        return start..<pos
    }

    // MARK: Numbers

    /// Scans a number per the RFC 8259 grammar `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?` and
    /// returns its byte range. Leading zeros (`01`), `+1`, `.5`, `1.` and `1e` are rejected.
    mutating func scanNumber() throws -> Range<Int> {
        let start = pos
        if current == JSONByte.minus { pos += 1 }
        let first = current
        if first == JSONByte.zero {
            pos += 1
            if isDigit(current) { throw syntaxError("leading zeros are not allowed in numbers") }
        } else if first > JSONByte.zero && first <= JSONByte.nine {
            pos += 1
            while isDigit(current) { pos += 1 }
        } else {
            throw unexpected("a digit")
        }
        if current == JSONByte.dot {
            pos += 1
            guard isDigit(current) else { throw unexpected("a digit after '.'") }
            while isDigit(current) { pos += 1 }
        }
        if current == JSONByte.lowerE || current == JSONByte.upperE {
            pos += 1
            if current == JSONByte.plus || current == JSONByte.minus { pos += 1 }
            guard isDigit(current) else { throw unexpected("a digit in the exponent") }
            while isDigit(current) { pos += 1 }
        }
        return start..<pos
    }

    @inline(__always) private func isDigit(_ b: UInt8) -> Bool { b >= JSONByte.zero && b <= JSONByte.nine }

    // MARK: Strings

    /// Parses the string at `pos` (which must be `"`).
    mutating func parseString() throws -> String {
        string(try scanString())
    }

    /// Validates the string at `pos` (which must be `"`): UTF-8 well-formedness, no raw control characters,
    /// only the eight escapes JSON defines, `\u` with 4 hex digits, surrogates only in high+low pairs.
    /// Leaves `pos` after the closing quote. Builds nothing.
    mutating func scanString() throws -> JSONStringToken {
        guard current == JSONByte.quote else { throw unexpected("'\"'") }
        pos += 1
        let start = pos
        var hasEscapes = false
        let count = bytes.count
        while true {
            // Fast path: plain printable ASCII.
            while pos < count {
                let b = bytes[pos]
                if b < 0x20 || b >= 0x80 || b == JSONByte.quote || b == JSONByte.backslash { break }
                pos += 1
            }
            guard pos < count else { throw syntaxError("unterminated string") }
            let b = bytes[pos]
            if b == JSONByte.quote {
                let token = JSONStringToken(start: start, end: pos, hasEscapes: hasEscapes)
                pos += 1
                return token
            } else if b == JSONByte.backslash {
                hasEscapes = true
                try scanEscape()
            } else if b < 0x20 {
                throw syntaxError("control character in string")
            } else {
                try scanUTF8Sequence()
            }
        }
    }

    /// `pos` at a backslash inside a string.
    private mutating func scanEscape() throws {
        let escapeStart = pos
        pos += 1
        switch current {
        case JSONByte.quote, JSONByte.backslash, JSONByte.slash, 0x62 /* b */, 0x66 /* f */, 0x6E /* n */, 0x72 /* r */,
            0x74 /* t */:
            pos += 1
        case JSONByte.lowerU:
            pos += 1
            let unit = try scanHex4()
            if unit >= 0xD800 && unit <= 0xDBFF {
                // A high surrogate must be followed at once by an escaped low surrogate.
                guard pos + 1 < bytes.count, bytes[pos] == JSONByte.backslash, bytes[pos + 1] == JSONByte.lowerU else {
                    throw JSONError.syntax(offset: escapeStart, "unpaired surrogate in \\u escape")
                }
                pos += 2
                let low = try scanHex4()
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw JSONError.syntax(offset: escapeStart, "unpaired surrogate in \\u escape")
                }
            } else if unit >= 0xDC00 && unit <= 0xDFFF {
                throw JSONError.syntax(offset: escapeStart, "unpaired surrogate in \\u escape")
            }
        default:
            throw JSONError.syntax(offset: escapeStart, "invalid escape sequence")
        }
    }

    private mutating func scanHex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw syntaxError("incomplete \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = JSONScanner.hexValue(bytes[pos]) else { throw syntaxError("invalid hex digit in \\u escape") }
            value = value << 4 | digit
            pos += 1
        }
        return value
    }

    @inline(__always) static func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case 0x30...0x39: return UInt32(b - 0x30)
        case 0x41...0x46: return UInt32(b - 0x41 + 10)
        case 0x61...0x66: return UInt32(b - 0x61 + 10)
        default: return nil
        }
    }

    /// `pos` at a byte ≥ 0x80 inside a string: checks one well-formed UTF-8 sequence (Unicode table 3-7) and
    /// steps over it. Doing this here, rather than letting `String(decoding:)` repair bad bytes into U+FFFD,
    /// is what makes invalid UTF-8 an error.
    private mutating func scanUTF8Sequence() throws {
        let b0 = bytes[pos]
        let count = bytes.count
        @inline(__always) func byte(_ i: Int) -> UInt8 { pos + i < count ? bytes[pos + i] : 0 }
        @inline(__always) func isCont(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
        switch b0 {
        case 0xC2...0xDF:
            guard isCont(byte(1)) else { throw JSONError.invalidUTF8 }
            pos += 2
        case 0xE0:
            guard (0xA0...0xBF).contains(byte(1)), isCont(byte(2)) else { throw JSONError.invalidUTF8 }
            pos += 3
        case 0xE1...0xEC, 0xEE...0xEF:
            guard isCont(byte(1)), isCont(byte(2)) else { throw JSONError.invalidUTF8 }
            pos += 3
        case 0xED:  // excludes the encoded surrogates U+D800–U+DFFF
            guard (0x80...0x9F).contains(byte(1)), isCont(byte(2)) else { throw JSONError.invalidUTF8 }
            pos += 3
        case 0xF0:
            guard (0x90...0xBF).contains(byte(1)), isCont(byte(2)), isCont(byte(3)) else { throw JSONError.invalidUTF8 }
            pos += 4
        case 0xF1...0xF3:
            guard isCont(byte(1)), isCont(byte(2)), isCont(byte(3)) else { throw JSONError.invalidUTF8 }
            pos += 4
        case 0xF4:  // nothing above U+10FFFF
            guard (0x80...0x8F).contains(byte(1)), isCont(byte(2)), isCont(byte(3)) else { throw JSONError.invalidUTF8 }
            pos += 4
        default:  // stray continuation bytes, overlong C0/C1, F5–FF
            throw JSONError.invalidUTF8
        }
    }

    /// The text of a scanned string token, decoding escapes if it has any. The token must come from
    /// ``scanString()`` on this buffer (its content is known to be valid).
    func string(_ token: JSONStringToken) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[token.start..<token.end])
        if !token.hasEscapes { return String(decoding: raw, as: UTF8.self) }
        // Decoded text is never longer than its escaped form (`\n` → 1 byte, `\uXXXX` → ≤ 3 bytes,
        // a 12-byte surrogate pair → 4 bytes), so the raw length is a safe capacity.
        return String(unsafeUninitializedCapacity: raw.count) { out in
            JSONScanner.unescape(raw, into: out)
        }
    }

    /// Raw bytes of a token (the content between the quotes, escapes undecoded).
    func raw(_ token: JSONStringToken) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[token.start..<token.end])
    }

    func string(asciiRange range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Decodes validated string content into `out`; returns the number of bytes written.
    private static func unescape(_ raw: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var i = 0
        var o = 0
        let n = raw.count
        while i < n {
            let b = raw[i]
            guard b == JSONByte.backslash else {
                out[o] = b
                o += 1
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            var scalar: UInt32
            switch e {
            case 0x62: scalar = 0x08
            case 0x66: scalar = 0x0C
            case 0x6E: scalar = 0x0A
            case 0x72: scalar = 0x0D
            case 0x74: scalar = 0x09
            case JSONByte.lowerU:
                scalar = hex4(raw, i)
                i += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    let low = hex4(raw, i + 2)
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
            default: scalar = UInt32(e)  // " \ /
            }
            o += writeUTF8(scalar, into: out, at: o)
        }
        return o
    }

    private static func hex4(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        var v: UInt32 = 0
        for k in 0..<4 { v = v << 4 | (hexValue(raw[at + k]) ?? 0) }
        return v
    }

    private static func writeUTF8(_ s: UInt32, into out: UnsafeMutableBufferPointer<UInt8>, at o: Int) -> Int {
        switch s {
        case 0..<0x80:
            out[o] = UInt8(s)
            return 1
        case 0x80..<0x800:
            out[o] = UInt8(0xC0 | s >> 6)
            out[o + 1] = UInt8(0x80 | s & 0x3F)
            return 2
        case 0x800..<0x10000:
            out[o] = UInt8(0xE0 | s >> 12)
            out[o + 1] = UInt8(0x80 | (s >> 6) & 0x3F)
            out[o + 2] = UInt8(0x80 | s & 0x3F)
            return 3
        default:
            out[o] = UInt8(0xF0 | s >> 18)
            out[o + 1] = UInt8(0x80 | (s >> 12) & 0x3F)
            out[o + 2] = UInt8(0x80 | (s >> 6) & 0x3F)
            out[o + 3] = UInt8(0x80 | s & 0x3F)
            return 4
        }
    }
}
