// MessagePack input (https://github.com/msgpack/msgpack/blob/master/spec.md), read strictly from a byte buffer.

/// A cursor over MessagePack bytes that reads one value header at a time.
///
/// Every read is bounds-checked and reports a ``MessagePackError`` instead of trapping, whatever the input: a
/// length or element count that runs past the end of the buffer is `truncated` at once (an array can't announce
/// more elements than there are bytes left, so nothing is ever reserved on a peer's say-so), 0xC1 is refused, and
/// nesting is limited by ``maxDepth`` in ``skipValue(depth:)`` and in the value readers built on this type.
/// Strings are handed out as byte ranges; ``string(_:)`` validates their UTF-8. Non-minimal encodings (an int 64
/// holding 1, a str 32 holding "") are valid MessagePack and are accepted.
struct MessagePackReader {
    /// One value's header: scalars carry their value, str/bin/ext the range of their payload in ``bytes``,
    /// arrays and maps their element count (the elements follow).
    enum Header: Equatable {
        case `nil`
        case bool(Bool)
        /// Every integer format whose value fits `Int64`.
        case int(Int64)
        /// A uint 64 above `Int64.max`.
        case uint(UInt64)
        case float32(Float)
        case float64(Double)
        case string(Range<Int>)
        case binary(Range<Int>)
        case array(count: Int)
        /// `count` key/value pairs.
        case map(count: Int)
        case ext(type: Int8, Range<Int>)
    }

    let bytes: UnsafeRawBufferPointer
    /// Deepest nesting allowed; the outermost array or map is level 1.
    let maxDepth: Int
    /// The next byte to read.
    private(set) var offset = 0

    /// - Parameters:
    ///   - bytes: the buffer; it must stay valid while the reader is used.
    ///   - maxDepth: deepest array/map nesting accepted (default 64, as the JSON side).
    init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    var atEnd: Bool { offset >= bytes.count }

    /// Reads the header of the next value (for str, bin and ext also steps over their payload).
    mutating func readHeader() throws -> Header {
        let start = offset
        guard offset < bytes.count else { throw MessagePackError.truncated(offset: start) }
        let b = bytes[offset]
        offset += 1
        switch b {
        case 0x00...0x7F: return .int(Int64(b))
        case 0x80...0x8F: return .map(count: try elementCount(Int(b & 0x0F), perElement: 2, start: start))
        case 0x90...0x9F: return .array(count: try elementCount(Int(b & 0x0F), perElement: 1, start: start))
        case 0xA0...0xBF: return .string(try payload(Int(b & 0x1F), start: start))
        case 0xC0: return .nil
        case 0xC1: throw MessagePackError.invalidFormat(offset: start)
        case 0xC2: return .bool(false)
        case 0xC3: return .bool(true)
        case 0xC4: return .binary(try payload(Int(try big(UInt8.self, start)), start: start))
        case 0xC5: return .binary(try payload(Int(try big(UInt16.self, start)), start: start))
        case 0xC6: return .binary(try payload(Int(try big(UInt32.self, start)), start: start))
        case 0xC7, 0xC8, 0xC9:
            let length: Int
            switch b {
            case 0xC7: length = Int(try big(UInt8.self, start))
            case 0xC8: length = Int(try big(UInt16.self, start))
            default: length = Int(try big(UInt32.self, start))
            }
            let type = Int8(bitPattern: try big(UInt8.self, start))
            return .ext(type: type, try payload(length, start: start))
        case 0xCA: return .float32(Float(bitPattern: try big(UInt32.self, start)))
        case 0xCB: return .float64(Double(bitPattern: try big(UInt64.self, start)))
        case 0xCC: return .int(Int64(try big(UInt8.self, start)))
        case 0xCD: return .int(Int64(try big(UInt16.self, start)))
        case 0xCE: return .int(Int64(try big(UInt32.self, start)))
        case 0xCF:
            let value = try big(UInt64.self, start)
            return value <= UInt64(Int64.max) ? .int(Int64(value)) : .uint(value)
        case 0xD0: return .int(Int64(Int8(bitPattern: try big(UInt8.self, start))))
        case 0xD1: return .int(Int64(Int16(bitPattern: try big(UInt16.self, start))))
        case 0xD2: return .int(Int64(Int32(bitPattern: try big(UInt32.self, start))))
        case 0xD3: return .int(Int64(bitPattern: try big(UInt64.self, start)))
        case 0xD4...0xD8:
            let type = Int8(bitPattern: try big(UInt8.self, start))
            return .ext(type: type, try payload(1 << Int(b - 0xD4), start: start))
        case 0xD9: return .string(try payload(Int(try big(UInt8.self, start)), start: start))
        case 0xDA: return .string(try payload(Int(try big(UInt16.self, start)), start: start))
        case 0xDB: return .string(try payload(Int(try big(UInt32.self, start)), start: start))
        case 0xDC: return .array(count: try elementCount(Int(try big(UInt16.self, start)), perElement: 1, start: start))
        case 0xDD: return .array(count: try elementCount(Int(try big(UInt32.self, start)), perElement: 1, start: start))
        case 0xDE: return .map(count: try elementCount(Int(try big(UInt16.self, start)), perElement: 2, start: start))
        case 0xDF: return .map(count: try elementCount(Int(try big(UInt32.self, start)), perElement: 2, start: start))
        default: return .int(Int64(Int8(bitPattern: b)))  // 0xE0…0xFF, negative fixint
        }
    }

    /// Steps over one whole value. `depth` is the nesting level the value would have if it is an array or map
    /// (1 for a top-level value). Strings are not UTF-8-checked and extension values are accepted: this only
    /// checks that the bytes are well-formed MessagePack.
    /// - Throws: ``MessagePackError/tooDeep(maxDepth:)`` and the errors of ``readHeader()``.
    mutating func skipValue(depth: Int = 1) throws {
        switch try readHeader() {
        case .array(let count):
            guard depth <= maxDepth else { throw MessagePackError.tooDeep(maxDepth: maxDepth) }
            for _ in 0..<count { try skipValue(depth: depth + 1) }
        case .map(let count):
            guard depth <= maxDepth else { throw MessagePackError.tooDeep(maxDepth: maxDepth) }
            for _ in 0..<(2 * count) { try skipValue(depth: depth + 1) }
        default:
            break
        }
    }

    /// Throws ``MessagePackError/trailingBytes(offset:)`` unless every byte was read.
    func expectEnd() throws {
        if offset < bytes.count { throw MessagePackError.trailingBytes(offset: offset) }
    }

    /// The bytes of a str/bin/ext payload range returned by ``readHeader()``.
    func raw(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[range])
    }

    /// The text of a str payload range returned by ``readHeader()``.
    /// - Throws: ``MessagePackError/invalidUTF8(offset:)`` unless the bytes are well-formed UTF-8.
    func string(_ range: Range<Int>) throws -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[range])
        let text = raw.withMemoryRebound(to: UInt8.self) { String(validating: $0, as: UTF8.self) }
        guard let text else { throw MessagePackError.invalidUTF8(offset: range.lowerBound) }
        return text
    }

    // MARK: Private

    /// A big-endian fixed-width integer at the cursor.
    @inline(__always)
    private mutating func big<T: FixedWidthInteger>(_: T.Type, _ start: Int) throws -> T {
        let size = MemoryLayout<T>.size
        guard bytes.count - offset >= size else { throw MessagePackError.truncated(offset: start) }
        var value: T = 0
        for i in 0..<size { value = value << 8 | T(bytes[offset + i]) }
        offset += size
        return value
    }

    /// The range of a `length`-byte payload at the cursor, which then moves past it.
    @inline(__always)
    private mutating func payload(_ length: Int, start: Int) throws -> Range<Int> {
        guard bytes.count - offset >= length else { throw MessagePackError.truncated(offset: start) }
        defer { offset += length }
        return offset..<(offset + length)
    }

    /// `count`, unless its elements can't fit in the bytes left (each takes at least one byte).
    @inline(__always)
    private func elementCount(_ count: Int, perElement: Int, start: Int) throws -> Int {
        guard count <= (bytes.count - offset) / perElement else { throw MessagePackError.truncated(offset: start) }
        return count
    }
}
