// Exact reading of JSON number literals into Swift's numeric types, for JSONValueDecoder.
//
// Integers follow System.Text.Json: only a plain integer literal `-?digits` is accepted, so `1.0`, `1e3` and `1.5`
// are all rejected for integer types even when their value is whole. `-0` is 0 (also for unsigned types).
// Floating-point types accept any number literal and round it to the nearest representable value; a literal whose
// magnitude is too large for the type (it would round to infinity) is rejected, as System.Text.Json does.

extension JSONNumber {
    /// Why a literal could not become the requested numeric type.
    enum ExactFailure: Error, Equatable {
        /// The literal has a fraction or an exponent (or is not a number literal at all), and the type is an integer.
        case notAnInteger
        /// The value lies outside the type's range (for floating point: it would round to infinity).
        case outOfRange
        /// Not text that follows the JSON number grammar.
        case malformed
    }

    /// The value of the integer literal `text` as `T`, exactly.
    /// - Throws: ``ExactFailure``: `.notAnInteger` for a fraction or exponent, `.outOfRange` when it does not fit.
    static func exactInteger<T: FixedWidthInteger>(_ text: String, as type: T.Type = T.self) throws(ExactFailure) -> T {
        var text = text
        // `withUTF8` only rethrows untyped errors: carry the typed one out in a Result.
        let result = text.withUTF8 { utf8 in
            Result { () throws(ExactFailure) -> T in try exactInteger(UnsafeRawBufferPointer(utf8)) }
        }
        return try result.get()
    }

    /// ``exactInteger(_:as:)`` over the literal's UTF-8 bytes.
    static func exactInteger<T: FixedWidthInteger>(
        _ bytes: UnsafeRawBufferPointer, as type: T.Type = T.self
    ) throws(ExactFailure) -> T {
        let n = bytes.count
        var i = 0
        var negative = false
        if i < n && bytes[i] == JSONByte.minus {
            negative = true
            i += 1
        }
        guard i < n else { throw .malformed }
        // Accumulate the magnitude in T.Magnitude: it holds |T.min| for signed types, so T.min parses too.
        var magnitude: T.Magnitude = 0
        var overflow = false
        while i < n {
            let b = bytes[i]
            guard b >= JSONByte.zero && b <= JSONByte.nine else {
                if b == JSONByte.dot || b == JSONByte.lowerE || b == JSONByte.upperE { throw .notAnInteger }
                throw .malformed
            }
            if !overflow {
                let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(T.Magnitude(b &- JSONByte.zero))
                if o1 || o2 { overflow = true } else { magnitude = s }
            }
            i += 1
        }
        // Keep scanning after an overflow so that `1e999…`-style tails still report "not an integer" first.
        if overflow { throw .outOfRange }
        if !negative {
            guard let value = T(exactly: magnitude) else { throw .outOfRange }
            return value
        }
        if magnitude == 0 { return 0 }
        guard T.isSigned else { throw .outOfRange }
        if magnitude == T.min.magnitude { return T.min }
        guard let value = T(exactly: magnitude) else { throw .outOfRange }
        return 0 - value
    }

    /// The nearest `T` to the number literal `text`.
    /// - Throws: ``ExactFailure``: `.malformed` when `text` is not a JSON number, `.outOfRange` when it rounds to
    ///   infinity.
    static func nearestFloatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(
        _ text: String, as type: T.Type = T.self
    ) throws(ExactFailure) -> T {
        // Swift's parser also takes "inf", "nan" and hexadecimal forms: let through only the JSON number alphabet.
        // Literals from JSONParser always pass; this guards hand-built values.
        guard hasNumberAlphabet(text) else { throw .malformed }
        guard let value = T(text) else { throw .malformed }
        guard value.isFinite else { throw .outOfRange }
        return value
    }

    /// True when `text` is not empty, starts with a digit or '-', and holds only characters of JSON numbers
    /// (`0-9 - + . e E`). A cheap screen before handing text to parsers that accept more than JSON does.
    static func hasNumberAlphabet(_ text: String) -> Bool {
        var first = true
        for b in text.utf8 {
            switch b {
            case JSONByte.zero...JSONByte.nine, JSONByte.minus: break
            case JSONByte.plus, JSONByte.dot, JSONByte.lowerE, JSONByte.upperE: if first { return false }
            default: return false
            }
            first = false
        }
        return !first
    }
}
