// A small, strict (RFC 8259) JSON parser and writer that works straight on bytes.
//
// Why not Foundation: `JSONSerialization` cannot tell `true` from `1`, is slow to encode, and both it and
// `JSONDecoder` allocate far more per message than a hub envelope needs. This file has no Foundation import
// on purpose; keep it that way.

/// A JSON value.
///
/// Numbers keep their exact literal text (`"1"`, `"-2.5e3"`), so nothing is lost or rounded between parsing
/// and re-encoding, and `true` never turns into `1`. Objects keep their members in document order, duplicates
/// included; lookups by key return the *last* duplicate, as System.Text.Json does.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// The literal text of a number, exactly as it appears in the document. It must follow the JSON number
    /// grammar when written out: the writer copies it verbatim.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
}

extension JSONValue: Equatable {
    /// Structural equality. Numbers compare by literal text (`1` ≠ `1.0`), objects compare member by member in
    /// order (`{"a":1,"b":2}` ≠ `{"b":2,"a":1}`): this is what round-trip tests want.
    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for i in a.indices where a[i].0 != b[i].0 || a[i].1 != b[i].1 { return false }
            return true
        default: return false
        }
    }
}

extension JSONValue {
    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The value of an integer literal (`-?digits`, no fraction or exponent) that fits in `Int`; else nil.
    var intValue: Int? {
        guard let v = int64Value else { return nil }
        return Int(exactly: v)
    }

    /// The value of an integer literal (`-?digits`, no fraction or exponent) that fits in `Int64`; else nil.
    var int64Value: Int64? {
        guard case .number(var text) = self else { return nil }
        return text.withUTF8 { JSONNumber.integer(UnsafeRawBufferPointer($0)) }
    }

    /// Any number as a `Double` (nearest representable value).
    var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var objectValue: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The member named `key` of an object (the last one if the key repeats); nil for other values.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for member in members.reversed() where member.0 == key { return member.1 }
        return nil
    }

    /// The element at `index` of an array; nil when out of range or not an array.
    subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// A number from an integer.
    static func integer(_ value: some BinaryInteger) -> JSONValue { .number(String(value)) }

    /// A number from a `Double`; nil for NaN and infinities, which JSON cannot represent.
    static func double(_ value: Double) -> JSONValue? {
        guard value.isFinite else { return nil }
        // Swift prints the shortest round-tripping form ("0.1", "1e-05", "1e+20"), all valid JSON numbers.
        return .number(value.description)
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(integerLiteral value: Int) { self = .number(String(value)) }
    init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keeps the literal's order (a `KeyValuePairs`, not a dictionary).
    init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
}

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text of the value.
    var description: String {
        var out: [UInt8] = []
        JSONWriter.write(self, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
