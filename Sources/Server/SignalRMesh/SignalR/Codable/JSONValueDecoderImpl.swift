// The `Decoder` behind JSONValueDecoder: one node per decoded value, linked to its parent so that coding paths
// are only built when someone asks for them (in practice: when an error is thrown).

/// A decoder positioned on one ``JSONValue``. It is also its own single-value container.
final class JSONValueDecoderImpl: Decoder, SingleValueDecodingContainer {
    /// The value this decoder reads.
    let value: JSONValue
    /// The decoder of the enclosing value, or nil at the top.
    let parent: JSONValueDecoderImpl?
    /// The key of `value` inside its parent; nil at the top and for decoders on the same value as their parent.
    let key: (any CodingKey)?
    let userInfo: [CodingUserInfoKey: Any]

    init(value: JSONValue, parent: JSONValueDecoderImpl?, key: (any CodingKey)?, userInfo: [CodingUserInfoKey: Any]) {
        self.value = value
        self.parent = parent
        self.key = key
        self.userInfo = userInfo
    }

    var codingPath: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node: JSONValueDecoderImpl? = self
        while let current = node {
            if let key = current.key { keys.append(key) }
            node = current.parent
        }
        return keys.reversed()
    }

    /// `codingPath` followed by `key`.
    func path(appending key: any CodingKey) -> [any CodingKey] {
        var path = codingPath
        path.append(key)
        return path
    }

    // MARK: Decoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw Self.mismatch(KeyedDecodingContainer<Key>.self, "an object", value, codingPath)
        }
        return KeyedDecodingContainer(JSONKeyedDecodingContainer<Key>(decoder: self, members: members))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw Self.mismatch((any UnkeyedDecodingContainer).self, "an array", value, codingPath)
        }
        return JSONUnkeyedDecodingContainer(decoder: self, elements: elements)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: Decoding values

    /// Decodes a `T` from this decoder's own value (the top level, or a single-value container's `decode(_:)`).
    func decodeSelf<T: Decodable>(_ type: T.Type) throws -> T {
        if let scalar = try Self.scalar(T.self, from: value, at: codingPath) { return scalar }
        return try T(from: self)
    }

    /// Decodes a `T` from `value`, the member or element at `key` of this decoder's value.
    func decodeChild<T: Decodable>(_ type: T.Type, from value: JSONValue, key: any CodingKey) throws -> T {
        if let scalar = try Self.scalar(T.self, from: value, at: path(appending: key)) { return scalar }
        return try T(from: JSONValueDecoderImpl(value: value, parent: self, key: key, userInfo: userInfo))
    }

    /// A decoder for `value` at `key` (nested containers, super decoders).
    func child(_ value: JSONValue, key: any CodingKey) -> JSONValueDecoderImpl {
        JSONValueDecoderImpl(value: value, parent: self, key: key, userInfo: userInfo)
    }

    /// The types decoded without a nested decoder: the scalars, ``AnyJSON`` and ``JSONFoundationValues``. Returns nil for other types.
    /// The comparisons are between metatypes, so in specialised code all but one branch fold away. The casts are
    /// `unsafeBitCast`s because each sits behind a check that `T` is exactly that type: `as? T` would cost a
    /// dynamic cast per value in unspecialised code (Codable's container boxes are never specialised).
    static func scalar<T>(
        _ type: T.Type, from value: JSONValue, at path: @autoclosure () -> [any CodingKey]
    ) throws -> T? {
        if T.self == String.self { return unsafeBitCast(try string(value, at: path()), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try integer(Int.self, value, at: path()), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try floatingPoint(Double.self, value, at: path()), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try bool(value, at: path()), to: T.self) }
        if T.self == AnyJSON.self { return unsafeBitCast(AnyJSON(value), to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try integer(Int64.self, value, at: path()), to: T.self) }
        if T.self == UInt64.self { return unsafeBitCast(try integer(UInt64.self, value, at: path()), to: T.self) }
        if T.self == Int32.self { return unsafeBitCast(try integer(Int32.self, value, at: path()), to: T.self) }
        if T.self == UInt32.self { return unsafeBitCast(try integer(UInt32.self, value, at: path()), to: T.self) }
        if T.self == UInt.self { return unsafeBitCast(try integer(UInt.self, value, at: path()), to: T.self) }
        if T.self == Float.self { return unsafeBitCast(try floatingPoint(Float.self, value, at: path()), to: T.self) }
        if T.self == Int16.self { return unsafeBitCast(try integer(Int16.self, value, at: path()), to: T.self) }
        if T.self == UInt16.self { return unsafeBitCast(try integer(UInt16.self, value, at: path()), to: T.self) }
        if T.self == Int8.self { return unsafeBitCast(try integer(Int8.self, value, at: path()), to: T.self) }
        if T.self == UInt8.self { return unsafeBitCast(try integer(UInt8.self, value, at: path()), to: T.self) }
        if T.self == Int128.self { return unsafeBitCast(try integer(Int128.self, value, at: path()), to: T.self) }
        if T.self == UInt128.self { return unsafeBitCast(try integer(UInt128.self, value, at: path()), to: T.self) }
        return try JSONFoundationValues.decode(T.self, from: value, at: path())
    }

    static func bool(_ value: JSONValue, at path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch(Bool.self, "true or false", value, path()) }
        return b
    }

    static func string(_ value: JSONValue, at path: @autoclosure () -> [any CodingKey]) throws -> String {
        guard case .string(let s) = value else { throw mismatch(String.self, "a string", value, path()) }
        return s
    }

    static func integer<T: FixedWidthInteger>(
        _ type: T.Type, _ value: JSONValue, at path: @autoclosure () -> [any CodingKey]
    ) throws -> T {
        guard case .number(let text) = value else { throw mismatch(T.self, "a number", value, path()) }
        do {
            return try JSONNumber.exactInteger(text, as: T.self)
        } catch {
            throw numberError(error, text, T.self, path())
        }
    }

    static func floatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(
        _ type: T.Type, _ value: JSONValue, at path: @autoclosure () -> [any CodingKey]
    ) throws -> T {
        guard case .number(let text) = value else { throw mismatch(T.self, "a number", value, path()) }
        do {
            return try JSONNumber.nearestFloatingPoint(text, as: T.self)
        } catch {
            throw numberError(error, text, T.self, path())
        }
    }

    // MARK: Errors

    /// `valueNotFound` when `value` is null, else `typeMismatch`, in Foundation's wording.
    static func mismatch(
        _ type: Any.Type, _ expected: String, _ value: JSONValue, _ path: [any CodingKey]
    ) -> DecodingError {
        if case .null = value {
            return .valueNotFound(
                type, .init(codingPath: path, debugDescription: "Expected \(expected) but found null instead."))
        }
        return .typeMismatch(
            type,
            .init(codingPath: path, debugDescription: "Expected \(expected) but found \(kind(of: value)) instead."))
    }

    static func numberError(
        _ failure: JSONNumber.ExactFailure, _ text: String, _ type: Any.Type, _ path: [any CodingKey]
    ) -> DecodingError {
        // Literals can be long (they are bounded only by the message size): quote at most 40 characters.
        let shown = text.utf8.count <= 40 ? text : String(text.prefix(40)) + "…"
        let message: String
        switch failure {
        case .notAnInteger:
            message = "Number \(shown) is not an integer literal; \(type) takes no fraction or exponent."
        case .outOfRange: message = "Number \(shown) does not fit in \(type)."
        case .malformed: message = "Number \(shown) is not a valid JSON number."
        }
        return .dataCorrupted(.init(codingPath: path, debugDescription: message))
    }

    /// How error messages name a value's kind.
    static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    // MARK: SingleValueDecodingContainer

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try Self.bool(value, at: codingPath) }
    func decode(_ type: String.Type) throws -> String { try Self.string(value, at: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try Self.floatingPoint(type, value, at: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try Self.floatingPoint(type, value, at: codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: Int128.Type) throws -> Int128 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Self.integer(type, value, at: codingPath) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try Self.integer(type, value, at: codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeSelf(type) }
}
