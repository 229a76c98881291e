// The `Encoder` behind JSONValueEncoder. Each node builds one value: a scalar, an array or an object. Nodes are
// created for the values that nest (structs, arrays, nested containers); scalars are stored in place.

/// An encoder building one ``JSONValue``. It is also its own single-value container.
///
/// Arrays and objects are stored as their final `[JSONValue]` / `[(String, JSONValue)]`, so finishing a node costs
/// nothing in the usual case. Nested containers and super-encoders can be written to after their parent has moved
/// on, so they get a placeholder slot, listed in `pending`, that ``finish()`` fills in.
final class JSONValueEncoderImpl: Encoder, SingleValueEncodingContainer {
    enum Kind {
        case empty, single, array, object
    }

    /// Objects with more members than this get a hash index for the duplicate-key check.
    static var indexThreshold: Int { 16 }

    let context: JSONEncodingContext
    let parent: JSONValueEncoderImpl?
    /// The key of this node's value in its parent; nil at the top and for detached nodes.
    let key: (any CodingKey)?

    private(set) var kind: Kind = .empty
    private var single: JSONValue = .null
    private var elements: [JSONValue] = []
    private var members: [(String, JSONValue)] = []
    /// Member name → position, once `members` outgrows ``indexThreshold``.
    private var memberIndex: [String: Int]?
    /// Slots of `elements`/`members` owned by nested containers or super-encoders.
    private var pending: [(index: Int, node: JSONValueEncoderImpl)] = []

    init(context: JSONEncodingContext, parent: JSONValueEncoderImpl?, key: (any CodingKey)?, kind: Kind = .empty) {
        self.context = context
        self.parent = parent
        self.key = key
        self.kind = kind
    }

    var codingPath: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node: JSONValueEncoderImpl? = self
        while let current = node {
            if let key = current.key { keys.append(key) }
            node = current.parent
        }
        return keys.reversed()
    }

    func path(appending key: any CodingKey) -> [any CodingKey] {
        var path = codingPath
        path.append(key)
        return path
    }

    var userInfo: [CodingUserInfoKey: Any] { context.userInfo }

    // MARK: Encoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        switch kind {
        case .empty: kind = .object
        case .object: break  // a subclass and its superclass sharing one container: allowed, as in Foundation
        case .single, .array:
            let earlier = kind == .single ? "a single value" : "an unkeyed container"
            context.recordMisuse("Asked for a keyed container where \(earlier) was already encoded.", at: codingPath)
            return KeyedEncodingContainer(JSONKeyedEncodingContainer<Key>(encoder: detached(.object)))
        }
        return KeyedEncodingContainer(JSONKeyedEncodingContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        switch kind {
        case .empty: kind = .array
        case .array: break
        case .single, .object:
            let earlier = kind == .single ? "a single value" : "a keyed container"
            context.recordMisuse("Asked for an unkeyed container where \(earlier) was already encoded.", at: codingPath)
            return JSONUnkeyedEncodingContainer(encoder: detached(.array))
        }
        return JSONUnkeyedEncodingContainer(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    /// A node that nothing will read: where writes go after a misuse has been recorded.
    private func detached(_ kind: Kind) -> JSONValueEncoderImpl {
        JSONValueEncoderImpl(context: context, parent: self, key: nil, kind: kind)
    }

    // MARK: Building

    /// Sets member `name` of this object node: replaces the value if the name is there already (keeping its
    /// position), else appends. Returns the member's position.
    @discardableResult
    func setMember(_ name: String, _ value: JSONValue) -> Int {
        let existing: Int?
        if let memberIndex {
            existing = memberIndex[name]
        } else {
            existing = members.firstIndex { $0.0 == name }
        }
        if let i = existing {
            members[i].1 = value
            if !pending.isEmpty { pending.removeAll { $0.index == i } }
            return i
        }
        members.append((name, value))
        let i = members.count - 1
        if memberIndex != nil {
            memberIndex![name] = i
        } else if members.count > Self.indexThreshold {
            var index: [String: Int] = [:]
            index.reserveCapacity(members.count * 2)
            for (position, member) in members.enumerated() { index[member.0] = position }
            memberIndex = index
        }
        return i
    }

    func appendElement(_ value: JSONValue) { elements.append(value) }

    var elementCount: Int { elements.count }

    /// A child node for a nested container or super-encoder at member `name`, filled in when this node finishes.
    func pendingMember(_ name: String, key: any CodingKey, kind: Kind) -> JSONValueEncoderImpl {
        let node = JSONValueEncoderImpl(context: context, parent: self, key: key, kind: kind)
        let i = setMember(name, .null)
        pending.append((i, node))
        return node
    }

    /// A child node for a nested container or super-encoder at the next array position.
    func pendingElement(kind: Kind) -> JSONValueEncoderImpl {
        let node = JSONValueEncoderImpl(
            context: context, parent: self, key: JSONCodingKey(index: elements.count), kind: kind)
        pending.append((elements.count, node))
        elements.append(.null)
        return node
    }

    /// The value this node built. Nodes that were never written to become `{}`.
    func finish() -> JSONValue {
        switch kind {
        case .empty:
            return .object([])
        case .single:
            return single
        case .array:
            for (i, node) in pending { elements[i] = node.finish() }
            pending = []
            return .array(elements)
        case .object:
            for (i, node) in pending { members[i].1 = node.finish() }
            pending = []
            return .object(members)
        }
    }

    // MARK: Encoding values

    /// Encodes the top-level value.
    func encodeTopLevel<T: Encodable>(_ value: T) throws -> JSONValue {
        if let scalar = try Self.scalar(value, at: []) { return scalar }
        try context.enter(value, at: [])
        defer { context.leave() }
        try value.encode(to: self)
        return finish()
    }

    /// Encodes `value`, the member or element at `key` of this node's value.
    func encodeChild<T: Encodable>(_ value: T, key: any CodingKey) throws -> JSONValue {
        if let scalar = try Self.scalar(value, at: path(appending: key)) { return scalar }
        try context.enter(value, at: path(appending: key))
        defer { context.leave() }
        let child = JSONValueEncoderImpl(context: context, parent: self, key: key)
        try value.encode(to: child)
        return child.finish()
    }

    /// The types encoded without a nested node: the scalars, ``AnyJSON`` and ``JSONFoundationValues``. Returns nil
    /// for other types. Each `unsafeBitCast` sits behind a check that `T` is exactly its target type: `as?` would
    /// cost a dynamic cast per value in unspecialised code (Codable's container boxes are never specialised).
    static func scalar<T: Encodable>(_ value: T, at path: @autoclosure () -> [any CodingKey]) throws -> JSONValue? {
        if T.self == String.self { return .string(unsafeBitCast(value, to: String.self)) }
        if T.self == Int.self { return .integer(unsafeBitCast(value, to: Int.self)) }
        if T.self == Double.self { return try number(unsafeBitCast(value, to: Double.self), at: path()) }
        if T.self == Bool.self { return .bool(unsafeBitCast(value, to: Bool.self)) }
        if T.self == AnyJSON.self { return unsafeBitCast(value, to: AnyJSON.self).value }
        if T.self == Int64.self { return .integer(unsafeBitCast(value, to: Int64.self)) }
        if T.self == UInt64.self { return .integer(unsafeBitCast(value, to: UInt64.self)) }
        if T.self == Int32.self { return .integer(unsafeBitCast(value, to: Int32.self)) }
        if T.self == UInt32.self { return .integer(unsafeBitCast(value, to: UInt32.self)) }
        if T.self == UInt.self { return .integer(unsafeBitCast(value, to: UInt.self)) }
        if T.self == Float.self { return try number(unsafeBitCast(value, to: Float.self), at: path()) }
        if T.self == Int16.self { return .integer(unsafeBitCast(value, to: Int16.self)) }
        if T.self == UInt16.self { return .integer(unsafeBitCast(value, to: UInt16.self)) }
        if T.self == Int8.self { return .integer(unsafeBitCast(value, to: Int8.self)) }
        if T.self == UInt8.self { return .integer(unsafeBitCast(value, to: UInt8.self)) }
        if T.self == Int128.self { return .integer(unsafeBitCast(value, to: Int128.self)) }
        if T.self == UInt128.self { return .integer(unsafeBitCast(value, to: UInt128.self)) }
        return try JSONFoundationValues.encode(value, at: path())
    }

    /// A finite floating-point value as a number in Swift's shortest round-trip form; `invalidValue` for NaN and
    /// infinities.
    static func number<F: BinaryFloatingPoint & CustomStringConvertible>(
        _ value: F, at path: @autoclosure () -> [any CodingKey]
    ) throws -> JSONValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: path(), debugDescription: "\(value) has no JSON representation."))
        }
        // `description` gives "1.0", "0.1", "1e-05", "1e+20", "-0.0", "5e-324": digits before any '.', and an
        // exponent with a sign and digits, so always a JSON number.
        return .number(value.description)
    }

    // MARK: SingleValueEncodingContainer

    /// Claims this node for a single value, or throws if something was encoded here already.
    private func claimSingle(_ value: Any) throws {
        guard kind == .empty else {
            throw EncodingError.invalidValue(
                value,
                .init(codingPath: codingPath, debugDescription: "A value was already encoded through this encoder."))
        }
    }

    private func setSingle(_ json: JSONValue) {
        single = json
        kind = .single
    }

    func encodeNil() throws {
        try claimSingle(Optional<Int>.none as Any)
        setSingle(.null)
    }

    func encode(_ value: Bool) throws {
        try claimSingle(value)
        setSingle(.bool(value))
    }

    func encode(_ value: String) throws {
        try claimSingle(value)
        setSingle(.string(value))
    }

    func encode(_ value: Double) throws {
        try claimSingle(value)
        setSingle(try Self.number(value, at: codingPath))
    }

    func encode(_ value: Float) throws {
        try claimSingle(value)
        setSingle(try Self.number(value, at: codingPath))
    }

    func encode(_ value: Int) throws { try encodeInteger(value) }
    func encode(_ value: Int8) throws { try encodeInteger(value) }
    func encode(_ value: Int16) throws { try encodeInteger(value) }
    func encode(_ value: Int32) throws { try encodeInteger(value) }
    func encode(_ value: Int64) throws { try encodeInteger(value) }
    func encode(_ value: Int128) throws { try encodeInteger(value) }
    func encode(_ value: UInt) throws { try encodeInteger(value) }
    func encode(_ value: UInt8) throws { try encodeInteger(value) }
    func encode(_ value: UInt16) throws { try encodeInteger(value) }
    func encode(_ value: UInt32) throws { try encodeInteger(value) }
    func encode(_ value: UInt64) throws { try encodeInteger(value) }
    func encode(_ value: UInt128) throws { try encodeInteger(value) }

    private func encodeInteger(_ value: some FixedWidthInteger) throws {
        try claimSingle(value)
        setSingle(.integer(value))
    }

    func encode<T: Encodable>(_ value: T) throws {
        try claimSingle(value)
        if let scalar = try Self.scalar(value, at: codingPath) {
            setSingle(scalar)
            return
        }
        // The value's own encoding lands in this same node (same coding path), as a single value would.
        try context.enter(value, at: codingPath)
        defer { context.leave() }
        try value.encode(to: self)
    }
}
