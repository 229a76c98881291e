// Sequential encoding into a JSON array node.

/// Appends the elements of one array.
struct JSONUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let encoder: JSONValueEncoderImpl

    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { encoder.elementCount }

    /// The key of the next element in coding paths.
    private var nextKey: JSONCodingKey { JSONCodingKey(index: encoder.elementCount) }

    mutating func encodeNil() throws { encoder.appendElement(.null) }
    mutating func encode(_ value: Bool) throws { encoder.appendElement(.bool(value)) }
    mutating func encode(_ value: String) throws { encoder.appendElement(.string(value)) }

    mutating func encode(_ value: Double) throws {
        encoder.appendElement(try JSONValueEncoderImpl.number(value, at: encoder.path(appending: nextKey)))
    }

    mutating func encode(_ value: Float) throws {
        encoder.appendElement(try JSONValueEncoderImpl.number(value, at: encoder.path(appending: nextKey)))
    }

    mutating func encode(_ value: Int) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: Int8) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: Int16) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: Int32) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: Int64) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: Int128) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: UInt) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: UInt8) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: UInt16) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: UInt32) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: UInt64) throws { encoder.appendElement(.integer(value)) }
    mutating func encode(_ value: UInt128) throws { encoder.appendElement(.integer(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.appendElement(try encoder.encodeChild(value, key: nextKey))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(JSONKeyedEncodingContainer<NestedKey>(encoder: encoder.pendingElement(kind: .object)))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        JSONUnkeyedEncodingContainer(encoder: encoder.pendingElement(kind: .array))
    }

    mutating func superEncoder() -> any Encoder {
        encoder.pendingElement(kind: .empty)
    }
}
