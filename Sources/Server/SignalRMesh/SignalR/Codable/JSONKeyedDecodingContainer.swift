// Keyed decoding over the members of a JSON object.

/// Reads the members of one object by key. A repeated member name means its last occurrence (as
/// ``JSONValue``'s subscript and System.Text.Json do); members no key asks for are ignored.
struct JSONKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// Objects with more members than this get a hash index; smaller ones are scanned, which is cheaper.
    static var indexThreshold: Int { 16 }

    let decoder: JSONValueDecoderImpl
    let members: [(String, JSONValue)]
    /// Member name → position of its last occurrence; only for objects larger than ``indexThreshold``, so that
    /// decoding a big `[String: T]` stays linear.
    let index: [String: Int]?

    init(decoder: JSONValueDecoderImpl, members: [(String, JSONValue)]) {
        self.decoder = decoder
        self.members = members
        if members.count > Self.indexThreshold {
            var index: [String: Int] = [:]
            index.reserveCapacity(members.count)
            for (i, member) in members.enumerated() { index[member.0] = i }
            self.index = index
        } else {
            self.index = nil
        }
    }

    var codingPath: [any CodingKey] { decoder.codingPath }

    /// Every member name once, in order of first appearance, that `Key` accepts.
    var allKeys: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(members.count)
        if let index {
            // Large objects: remember the names already taken.
            var seen = Set<String>(minimumCapacity: index.count)
            for member in members where seen.insert(member.0).inserted {
                if let key = Key(stringValue: member.0) { keys.append(key) }
            }
        } else {
            // Small objects: a scan of the earlier members costs less than hashing.
            for i in members.indices {
                let name = members[i].0
                if members[..<i].contains(where: { $0.0 == name }) { continue }
                if let key = Key(stringValue: name) { keys.append(key) }
            }
        }
        return keys
    }

    func contains(_ key: Key) -> Bool { lookup(key) != nil }

    private func lookup(_ key: Key) -> JSONValue? {
        let name = key.stringValue
        if let index {
            guard let i = index[name] else { return nil }
            return members[i].1
        }
        for member in members.reversed() where member.0 == name { return member.1 }
        return nil
    }

    /// The member for `key`, or `keyNotFound`.
    private func value(for key: Key) throws -> JSONValue {
        guard let value = lookup(key) else {
            throw DecodingError.keyNotFound(
                key,
                .init(codingPath: codingPath, debugDescription: "No value associated with key \"\(key.stringValue)\"."))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(for: key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try JSONValueDecoderImpl.bool(value(for: key), at: decoder.path(appending: key))
    }

    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try JSONValueDecoderImpl.string(value(for: key), at: decoder.path(appending: key))
    }

    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try floatingPoint(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try floatingPoint(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(type, key) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try integer(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(type, key) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try integer(type, key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.decodeChild(type, from: value(for: key), key: key)
    }

    private func integer<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T {
        try JSONValueDecoderImpl.integer(type, value(for: key), at: decoder.path(appending: key))
    }

    private func floatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(
        _ type: T.Type, _ key: Key
    ) throws -> T {
        try JSONValueDecoderImpl.floatingPoint(type, value(for: key), at: decoder.path(appending: key))
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder.child(value(for: key), key: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.child(value(for: key), key: key).unkeyedContainer()
    }

    /// A decoder for the member `"super"`; over `null` when there is none (as Foundation does).
    func superDecoder() throws -> any Decoder {
        let key = JSONCodingKey.super
        let name = key.stringValue
        let value = members.last(where: { $0.0 == name })?.1 ?? .null
        return decoder.child(value, key: key)
    }

    /// A decoder for the member at `key`; over `null` when there is none.
    func superDecoder(forKey key: Key) throws -> any Decoder {
        decoder.child(lookup(key) ?? .null, key: key)
    }
}
