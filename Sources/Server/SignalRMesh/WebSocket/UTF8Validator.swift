/// An incremental UTF-8 validator (RFC 3629) that can be fed a message in arbitrary pieces.
///
/// WebSocket text messages must be valid UTF-8, and RFC 6455 §8.1 asks an endpoint to fail the connection as soon
/// as it sees an invalid sequence, not only at the end of the message. So the validator remembers a code point that
/// is cut in two by a frame or read boundary, and `feed` reports a problem at the first byte that can't be part of
/// any valid encoding: overlong forms, UTF-16 surrogates (U+D800–U+DFFF) and anything above U+10FFFF are rejected.
///
/// ```swift
/// var v = UTF8Validator()
/// v.feed([0xCE, 0xBA, 0xE1])   // true: "κ" and the start of a 3-byte sequence
/// v.isComplete                 // false: the message can't end here
/// ```
struct UTF8Validator {
    /// Continuation bytes still expected for the current code point (0 between code points).
    private var needed: UInt8 = 0
    /// Allowed range of the next continuation byte. Only the first continuation byte after some lead bytes has a
    /// narrower range (that is how overlongs, surrogates and > U+10FFFF are excluded); the rest are 0x80...0xBF.
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF
    /// Once invalid, always invalid until `reset()`: the bytes already seen can't become valid.
    private var invalid = false

    init() {}

    /// True when everything fed so far is valid and does not end in the middle of a code point.
    var isComplete: Bool { !invalid && needed == 0 }

    /// Forgets all state, ready for a new message.
    mutating func reset() {
        self = UTF8Validator()
    }

    /// Validates the next piece of the text.
    /// - Returns: `false` if the bytes seen so far can't be the start of valid UTF-8 (the text is definitely
    ///   invalid); `true` if they still can be (check `isComplete` at the end of the text).
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if invalid { return false }
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return true }
        var i = 0
        while i < count {
            if needed == 0 {
                // ASCII fast path, 8 bytes at a time: most text payloads (JSON) are mostly ASCII.
                while i + 8 <= count && base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    i += 8
                }
                if i == count { break }
                let byte = base.load(fromByteOffset: i, as: UInt8.self)
                i += 1
                if byte < 0x80 { continue }
                switch byte {
                case 0xC2...0xDF:
                    needed = 1
                case 0xE0:
                    needed = 2
                    lower = 0xA0  // below is an overlong 3-byte form
                case 0xE1...0xEC, 0xEE...0xEF:
                    needed = 2
                case 0xED:
                    needed = 2
                    upper = 0x9F  // above is a UTF-16 surrogate
                case 0xF0:
                    needed = 3
                    lower = 0x90  // below is an overlong 4-byte form
                case 0xF1...0xF3:
                    needed = 3
                case 0xF4:
                    needed = 3
                    upper = 0x8F  // above is beyond U+10FFFF
                default:
                    // 0x80...0xC1 (stray continuation byte, overlong 2-byte lead) and 0xF5...0xFF.
                    invalid = true
                    return false
                }
            } else {
                let byte = base.load(fromByteOffset: i, as: UInt8.self)
                i += 1
                guard byte >= lower && byte <= upper else {
                    invalid = true
                    return false
                }
                needed -= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    /// Validates the next piece of the text. Same as the raw-buffer `feed(_:)`.
    mutating func feed(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Validates a whole text at once.
    static func isValid(_ bytes: [UInt8]) -> Bool {
        var validator = UTF8Validator()
        return validator.feed(bytes) && validator.isComplete
    }
}
