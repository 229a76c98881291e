// Keyed encoding into a JSON object node.

/// Writes the members of one object, in the order they are encoded. Member names are the keys' `stringValue`s.
struct JSONKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: JSONValueEncoderImpl

    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil(forKey key: Key) throws { encoder.setMember(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { encoder.setMember(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { encoder.setMember(key.stringValue, .string(value)) }

    mutating func encode(_ value: Double, forKey key: Key) throws {
        encoder.setMember(key.stringValue, try JSONValueEncoderImpl.number(value, at: encoder.path(appending: key)))
    }

    mutating func encode(_ value: Float, forKey key: Key) throws {
        encoder.setMember(key.stringValue, try JSONValueEncoderImpl.number(value, at: encoder.path(appending: key)))
    }

    mutating func encode(_ value: Int, forKey key: Key) throws { encoder.setMember(key.stringValue, .integer(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { encoder.setMember(key.stringValue, .integer(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { encoder.setMember(key.stringValue, .integer(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { encoder.setMember(key.stringValue, .integer(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { encoder.setMember(key.stringValue, .integer(value)) }
    mutating func encode(_ value: Int128, forKey key: Key) throws {
        encoder.setMember(key.stringValue, .integer(value))
    }
    mutating func encode(_ value: UInt, forKey key: Key) throws { encoder.setMember(key.stringValue, .integer(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { encoder.setMember(key.stringValue, .integer(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws {
        encoder.setMember(key.stringValue, .integer(value))
    }
    mutating func encode(_ value: UInt32, forKey key: Key) throws {
        encoder.setMember(key.stringValue, .integer(value))
    }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        encoder.setMember(key.stringValue, .integer(value))
    }
    mutating func encode(_ value: UInt128, forKey key: Key) throws {
        encoder.setMember(key.stringValue, .integer(value))
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        encoder.setMember(key.stringValue, try encoder.encodeChild(value, key: key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let node = encoder.pendingMember(key.stringValue, key: key, kind: .object)
        return KeyedEncodingContainer(JSONKeyedEncodingContainer<NestedKey>(encoder: node))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        JSONUnkeyedEncodingContainer(encoder: encoder.pendingMember(key.stringValue, key: key, kind: .array))
    }

    /// An encoder for the member `"super"`; `{}` if nothing is encoded through it.
    mutating func superEncoder() -> any Encoder {
        let key = JSONCodingKey.super
        return encoder.pendingMember(key.stringValue, key: key, kind: .empty)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        encoder.pendingMember(key.stringValue, key: key, kind: .empty)
    }
}
