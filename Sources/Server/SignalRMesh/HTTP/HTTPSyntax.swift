/// Byte-level helpers for HTTP syntax (RFC 9110 5.6), shared by the parser, headers and static files.
enum HTTPSyntax {
    /// ASCII case-insensitive equality of two header names (or tokens), without allocating.
    static func nameEquals(_ a: String, _ b: String) -> Bool {
        // Most comparisons are against a different name: the O(1) length check settles them.
        guard a.utf8.count == b.utf8.count else { return false }
        let fast = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in foldedEquals(left, right) }
        }
        if let fast, let result = fast { return result }
        return a.utf8.elementsEqual(b.utf8) { lower($0) == lower($1) }
    }

    /// Whether `bytes` equals `lowercase` (which must be lowercase ASCII) ignoring ASCII case.
    @inline(__always)
    static func equalsLowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let literal = lowercase.utf8Start
        for i in 0..<bytes.count where lower(bytes[i]) != literal[i] {
            return false
        }
        return true
    }

    @inline(__always)
    private static func foldedEquals(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i] != b[i] && lower(a[i]) != lower(b[i]) {
            return false
        }
        return true
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
    }

    /// Optional whitespace: space or horizontal tab.
    @inline(__always)
    static func isOWS(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09
    }

    /// `tchar`: the characters allowed in a method or a header name, as a 128-bit set
    /// (``tokenCharsLow`` for bytes 0-63, ``tokenCharsHigh`` for 64-127): one shift instead of a switch.
    @inline(__always)
    static func isTokenChar(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenCharsLow >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (tokenCharsHigh >> UInt64(byte - 64)) & 1 == 1 }
        return false
    }

    /// Bits set for `! # $ % & ' * + - .` and `0-9` (RFC 9110 5.6.2); the test suite rebuilds both masks
    /// from the RFC's character list.
    static let tokenCharsLow: UInt64 = 0x03FF_6CFA_0000_0000
    /// Bits set for `A-Z ^ _ \` a-z | ~`.
    static let tokenCharsHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// A byte allowed inside a field value: VCHAR, SP, HTAB or obs-text. Every other control byte
    /// (CR, LF, NUL, DEL...) is refused, which is what stops header injection and bare-CR tricks.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == 0x09
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Whether the comma-separated list `list` has an element equal to `token` (ASCII case-insensitive).
func listContainsToken(_ list: String, _ token: String) -> Bool {
    let tokenBytes = token.utf8
    var list = list
    return list.withUTF8 { bytes -> Bool in
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
            var low = start
            var high = end
            while low < high && HTTPSyntax.isOWS(bytes[low]) { low += 1 }
            while high > low && HTTPSyntax.isOWS(bytes[high - 1]) { high -= 1 }
            if high - low == tokenBytes.count {
                var matched = true
                var i = low
                for t in tokenBytes {
                    if HTTPSyntax.lower(bytes[i]) != HTTPSyntax.lower(t) {
                        matched = false
                        break
                    }
                    i += 1
                }
                if matched { return true }
            }
            start = end + 1
        }
        return false
    }
}

// MARK: - Version
