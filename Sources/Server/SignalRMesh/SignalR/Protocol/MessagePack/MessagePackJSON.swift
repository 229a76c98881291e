// The mapping between MessagePack values and JSONValue, the payload model shared with the JSON hub protocol.

import NetKit

/// Converts hub payloads (arguments, stream items, results) between MessagePack and ``JSONValue``, so that hub
/// code sees the same values whichever protocol a client speaks, and a message from a MessagePack client can be
/// sent on to a JSON client and back.
///
/// MessagePack → JSON:
/// - nil, bool → `.null`, `.bool`; every integer format → `.number` with its exact decimal text (the full
///   `Int64` and `UInt64` ranges);
/// - float 64 → `.number(Double.description)`, the shortest text that reads back as the same double (`0.5`,
///   `1e+20`, `-0.0`); float 32 → the shortest text of the float, re-spelled as a double (so that the text is
///   stable when it goes MessagePack → JSON → MessagePack → JSON);
/// - **NaN and ±infinity → `.null`**. JSON has no spelling for them and ``JSONValue`` holds valid JSON only.
///   `null` is what a JavaScript client's own JSON protocol sends for them (`JSON.stringify(NaN)` is `"null"`), so
///   a value reaches hub code and JSON clients the same way whichever protocol the JS client used, and one odd
///   number doesn't close the sender's connection (rejecting it would: any parse error is a protocol error);
/// - str → `.string` (must be valid UTF-8, else ``MessagePackError/invalidUTF8(offset:)``);
/// - bin → `.string` holding standard padded Base64: what a `byte[]` argument is in the JSON protocol;
/// - array → `.array`; map → `.object` in wire order, duplicate keys kept (keys must be strings, else
///   ``MessagePackError/nonStringKey(offset:)``);
/// - ext, including the timestamp type -1 → ``MessagePackError/unsupportedExtension(type:offset:)``: there is
///   no JSON form a hub could tell from a string.
///
/// JSON → MessagePack: `.number` becomes the smallest integer format when its text is an integer that fits
/// `Int64` or `UInt64`, else float 64 (so `1.0` and `1e2` stay floats); the rest maps one to one (strings are
/// always str: a Base64 string is not turned back into bin).
enum MessagePackJSON {
    /// Reads one value. `depth` is the nesting level the value has if it is an array or map (1 at top level).
    /// - Throws: ``MessagePackError``.
    static func readValue(_ reader: inout MessagePackReader, depth: Int = 1) throws -> JSONValue {
        let start = reader.offset
        switch try reader.readHeader() {
        case .nil:
            return .null
        case .bool(let b):
            return .bool(b)
        case .int(let v):
            return .number(String(v))
        case .uint(let v):
            return .number(String(v))
        case .float64(let v):
            return number(v)
        case .float32(let v):
            guard v.isFinite else { return .null }
            // Float's shortest text, read as a Double, printed as a Double: stable under re-encoding as float 64.
            return number(Double(v.description) ?? Double(v))
        case .string(let range):
            return .string(try reader.string(range))
        case .binary(let range):
            return .string(Base64.encode(Array(reader.raw(range))))
        case .array(let count):
            guard depth <= reader.maxDepth else { throw MessagePackError.tooDeep(maxDepth: reader.maxDepth) }
            var elements: [JSONValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try readValue(&reader, depth: depth + 1)) }
            return .array(elements)
        case .map(let count):
            guard depth <= reader.maxDepth else { throw MessagePackError.tooDeep(maxDepth: reader.maxDepth) }
            var members: [(String, JSONValue)] = []
            members.reserveCapacity(count)
            for _ in 0..<count {
                let keyStart = reader.offset
                guard case .string(let range) = try reader.readHeader() else {
                    throw MessagePackError.nonStringKey(offset: keyStart)
                }
                let key = try reader.string(range)
                members.append((key, try readValue(&reader, depth: depth + 1)))
            }
            return .object(members)
        case .ext(let type, _):
            throw MessagePackError.unsupportedExtension(type: type, offset: start)
        }
    }

    /// Reads a buffer that holds exactly one value.
    /// - Throws: ``MessagePackError``, including ``MessagePackError/trailingBytes(offset:)``.
    static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSONValue {
        var reader = MessagePackReader(bytes, maxDepth: maxDepth)
        let value = try readValue(&reader)
        try reader.expectEnd()
        return value
    }

    static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, maxDepth: maxDepth) }
    }

    /// Appends `value` as MessagePack (see the type's documentation for numbers).
    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null:
            MessagePackWriter.writeNil(into: &out)
        case .bool(let b):
            MessagePackWriter.writeBool(b, into: &out)
        case .number(let text):
            writeNumber(text, into: &out)
        case .string(let s):
            MessagePackWriter.writeString(s, into: &out)
        case .array(let elements):
            MessagePackWriter.writeArrayHeader(elements.count, into: &out)
            for element in elements { write(element, into: &out) }
        case .object(let members):
            MessagePackWriter.writeMapHeader(members.count, into: &out)
            for (key, member) in members {
                MessagePackWriter.writeString(key, into: &out)
                write(member, into: &out)
            }
        }
    }

    /// A JSON number literal as the smallest integer format if it is `-?digits` within `Int64`/`UInt64`, else as
    /// float 64. A literal that isn't a number at all (``JSONValue/number(_:)`` promises it is) is written as nil.
    static func writeNumber(_ text: String, into out: inout [UInt8]) {
        var text = text
        let written = text.withUTF8 { utf8 -> Bool in
            let raw = UnsafeRawBufferPointer(utf8)
            if let value = JSONNumber.integer(raw) {
                MessagePackWriter.writeInt(value, into: &out)
                return true
            }
            // Positive integers above Int64.max that still fit UInt64.
            if let first = utf8.first, first != JSONByte.minus, utf8.allSatisfy({ $0 >= JSONByte.zero && $0 <= JSONByte.nine }) {
                var value: UInt64 = 0
                var overflow = false
                for digit in utf8 {
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(UInt64(digit - JSONByte.zero))
                    if o1 || o2 {
                        overflow = true
                        break
                    }
                    value = s
                }
                if !overflow {
                    MessagePackWriter.writeUInt(value, into: &out)
                    return true
                }
            }
            return false
        }
        guard !written else { return }
        if let double = Double(text) {
            MessagePackWriter.writeDouble(double, into: &out)
        } else {
            MessagePackWriter.writeNil(into: &out)
        }
    }

    /// A finite double as its shortest round-tripping text; NaN and the infinities as `null`.
    private static func number(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        return .number(value.description)
    }
}
