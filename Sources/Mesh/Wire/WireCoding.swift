// Big-endian integers and length-prefixed strings and bytes, written and read the way every mesh frame body
// lays them out.

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always) mutating func appendUInt32(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always) mutating func appendUInt64(_ value: UInt64) {
        appendUInt32(UInt32(truncatingIfNeeded: value >> 32))
        appendUInt32(UInt32(truncatingIfNeeded: value))
    }

    @inline(__always) mutating func appendString(_ value: String) {
        let count = value.utf8.count
        precondition(count <= Int(UInt16.max), "mesh string longer than 65535 bytes")
        appendUInt16(UInt16(count))
        append(contentsOf: value.utf8)
    }

    /// `u8 length + UTF-8`: replica ids inside DATA frames (ids are at most 255 bytes).
    @inline(__always) mutating func appendShortString(_ value: String) {
        let count = value.utf8.count
        precondition(count <= Int(UInt8.max), "mesh short string longer than 255 bytes")
        append(UInt8(count))
        append(contentsOf: value.utf8)
    }

    /// `u32 length + raw`, the wire form of a byte string (used in the handshake transcript).
    @inline(__always) mutating func appendLengthPrefixedBytes(_ value: [UInt8]) {
        appendUInt32(UInt32(value.count))
        append(contentsOf: value)
    }

    @inline(__always) mutating func patchUInt32(at index: Int, _ value: UInt32) {
        self[index] = UInt8(truncatingIfNeeded: value >> 24)
        self[index + 1] = UInt8(truncatingIfNeeded: value >> 16)
        self[index + 2] = UInt8(truncatingIfNeeded: value >> 8)
        self[index + 3] = UInt8(truncatingIfNeeded: value)
    }
}

/// Cursor over one frame body. Bounds are checked on every read; errors name the frame type.
struct WireReader: ~Copyable {
    let base: UnsafeRawBufferPointer
    var index: Int
    let end: Int
    let type: MeshFrameType
    let intern: InternTable?

    init(_ base: UnsafeRawBufferPointer, range: Range<Int>, type: MeshFrameType, intern: InternTable? = nil) {
        self.base = base
        self.index = range.lowerBound
        self.end = range.upperBound
        self.type = type
        self.intern = intern
    }

    var remaining: Int { end - index }

    mutating func u8() throws(MeshWireError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(type) }
        defer { index += 1 }
        return base[index]
    }

    mutating func u16() throws(MeshWireError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated(type) }
        defer { index += 2 }
        return UInt16(base[index]) << 8 | UInt16(base[index + 1])
    }

    mutating func u32() throws(MeshWireError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated(type) }
        defer { index += 4 }
        return UInt32(base[index]) << 24 | UInt32(base[index + 1]) << 16 | UInt32(base[index + 2]) << 8
            | UInt32(base[index + 3])
    }

    mutating func u64() throws(MeshWireError) -> UInt64 {
        let high = try u32()
        let low = try u32()
        return UInt64(high) << 32 | UInt64(low)
    }

    mutating func raw(_ count: Int) throws(MeshWireError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated(type) }
        defer { index += count }
        return [UInt8](UnsafeRawBufferPointer(rebasing: base[index..<(index + count)]))
    }

    mutating func string() throws(MeshWireError) -> String {
        let count = Int(try u16())
        return try text(count)
    }

    /// The next `count` bytes as UTF-8 (a known string from the intern table when one matches).
    private mutating func text(_ count: Int) throws(MeshWireError) -> String {
        guard remaining >= count else { throw .truncated(type) }
        let slice = UnsafeRawBufferPointer(rebasing: base[index..<(index + count)])
        index += count
        if let intern, let known = intern.lookup(slice) { return known }
        guard let value = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8(type) }
        return value
    }

    /// `u8 length + UTF-8` (replica ids inside DATA frames).
    mutating func shortString() throws(MeshWireError) -> String {
        let count = Int(try u8())
        return try text(count)
    }

    mutating func skipRest() { index = end }

    func finish() throws(MeshWireError) {
        guard remaining == 0 else { throw .trailingBytes(type) }
    }
}
