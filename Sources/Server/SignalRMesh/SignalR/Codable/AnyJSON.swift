// "Any JSON": a Codable value that carries whatever JSON it was given, exactly.

/// Any JSON value (object, array, string, number, boolean or null), kept exactly as received.
///
/// Use it for hub method arguments and results whose shape is not fixed, or that should pass through untouched:
///
/// ```swift
/// func echoObject(_ obj: AnyJSON) -> AnyJSON { obj }
/// ```
///
/// returns the very same JSON text the client sent: members in their order (duplicates included), number literals
/// as written (`1.50` stays `1.50`, `1e3` stays `1e3`), strings with any content. Nothing is rounded or reordered
/// because the value is never turned into Swift numbers or dictionaries.
///
/// Equality is structural and exact: numbers compare by their literal text (`1` ≠ `1.0`) and objects by their
/// members in order (`{"a":1,"b":2}` ≠ `{"b":2,"a":1}`).
///
/// With the server's own JSON coders the value passes through as it is. Through other coders (Foundation's
/// `JSONEncoder`/`JSONDecoder`, say) it still works, but only as precisely as they allow: numbers become `Int64`,
/// `UInt64` or `Double`, and member order is whatever that decoder reports.
public struct AnyJSON: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The value, as the parser produced it.
    var value: JSONValue

    init(_ value: JSONValue) {
        self.value = value
    }

    /// Parses JSON text (strict RFC 8259; nesting at most 64 levels).
    /// - Throws: an error describing the first problem, with its byte offset.
    public init(parsing text: String) throws {
        self.value = try JSONParser.parse(text)
    }

    /// Encodes `value` with the server's JSON encoder, as a hub result would be.
    /// - Throws: `EncodingError` (for example for NaN or infinite numbers).
    public init<T: Encodable>(encoding value: T) throws {
        self.value = try JSONValueEncoder.encode(value)
    }

    /// Decodes the JSON held into a `T`, with the rules hub arguments follow.
    /// - Throws: `DecodingError`, with the coding path of the offending value.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONValueDecoder.decode(type, from: value)
    }

    /// The JSON `null`.
    public static let null = AnyJSON(.null)

    /// True when the value is the JSON `null`.
    public var isNull: Bool { value.isNull }

    /// The compact JSON text of the value (no whitespace).
    public var description: String { value.description }

    public static func == (lhs: AnyJSON, rhs: AnyJSON) -> Bool { lhs.value == rhs.value }

    // MARK: Codable

    public init(from decoder: any Decoder) throws {
        if let own = decoder as? JSONValueDecoderImpl {
            self.value = own.value
            return
        }
        self.value = try Self.foreignDecode(decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        if let own = encoder as? JSONValueEncoderImpl {
            var container = own.singleValueContainer()
            try container.encode(self)
            return
        }
        try Self.foreignEncode(value, to: encoder)
    }

    /// Reads any value from a decoder that is not ours, trying each JSON kind in turn.
    private static func foreignDecode(_ decoder: any Decoder) throws -> JSONValue {
        if let single = try? decoder.singleValueContainer() {
            if single.decodeNil() { return .null }
            if let b = try? single.decode(Bool.self) { return .bool(b) }
            if let i = try? single.decode(Int64.self) { return .integer(i) }
            if let u = try? single.decode(UInt64.self) { return .integer(u) }
            if let d = try? single.decode(Double.self), let number = JSONValue.double(d) { return number }
            if let s = try? single.decode(String.self) { return .string(s) }
        }
        if var array = try? decoder.unkeyedContainer() {
            var elements: [JSONValue] = []
            while !array.isAtEnd { elements.append(try array.decode(AnyJSON.self).value) }
            return .array(elements)
        }
        let object = try decoder.container(keyedBy: JSONCodingKey.self)
        var members: [(String, JSONValue)] = []
        for key in object.allKeys {
            members.append((key.stringValue, try object.decode(AnyJSON.self, forKey: key).value))
        }
        return .object(members)
    }

    /// Writes `value` to an encoder that is not ours with the standard containers.
    private static func foreignEncode(_ value: JSONValue, to encoder: any Encoder) throws {
        switch value {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let b):
            var single = encoder.singleValueContainer()
            try single.encode(b)
        case .number(let text):
            var single = encoder.singleValueContainer()
            if let i = try? JSONNumber.exactInteger(text, as: Int64.self) {
                try single.encode(i)
            } else if let u = try? JSONNumber.exactInteger(text, as: UInt64.self) {
                try single.encode(u)
            } else if let d = try? JSONNumber.nearestFloatingPoint(text, as: Double.self) {
                try single.encode(d)
            } else {
                throw EncodingError.invalidValue(
                    text,
                    .init(codingPath: encoder.codingPath, debugDescription: "Number \(text) does not fit in a Double."))
            }
        case .string(let s):
            var single = encoder.singleValueContainer()
            try single.encode(s)
        case .array(let elements):
            var array = encoder.unkeyedContainer()
            for element in elements { try array.encode(AnyJSON(element)) }
        case .object(let members):
            var object = encoder.container(keyedBy: JSONCodingKey.self)
            for (name, member) in members {
                try object.encode(AnyJSON(member), forKey: JSONCodingKey(stringValue: name))
            }
        }
    }
}
