// MessagePack output (https://github.com/msgpack/msgpack/blob/master/spec.md), appended to a byte array.

/// Appends MessagePack values to a byte array, always in the smallest format that holds them.
///
/// Only headers and scalars: an array or map is its header followed by its elements (maps: key, value, key, …),
/// which the caller writes next. No Foundation, no intermediate buffers. Lengths above `UInt32.max` cannot be
/// encoded and trap (a server never builds such a message; the framing caps messages at 2 GiB anyway).
enum MessagePackWriter {
    /// `nil` (0xC0).
    @inline(__always)
    static func writeNil(into out: inout [UInt8]) {
        out.append(0xC0)
    }

    /// `false` (0xC2) or `true` (0xC3).
    @inline(__always)
    static func writeBool(_ value: Bool, into out: inout [UInt8]) {
        out.append(value ? 0xC3 : 0xC2)
    }

    /// An integer in the smallest format: positive fixint or uint 8/16/32/64 for values ≥ 0, negative fixint or
    /// int 8/16/32/64 below 0.
    static func writeInt(_ value: Int64, into out: inout [UInt8]) {
        if value >= 0 {
            writeUInt(UInt64(value), into: &out)
        } else if value >= -32 {
            out.append(UInt8(truncatingIfNeeded: value))  // 0xE0…0xFF
        } else if value >= Int64(Int8.min) {
            out.append(0xD0)
            out.append(UInt8(truncatingIfNeeded: value))
        } else if value >= Int64(Int16.min) {
            out.append(0xD1)
            appendBigEndian(UInt16(truncatingIfNeeded: value), to: &out)
        } else if value >= Int64(Int32.min) {
            out.append(0xD2)
            appendBigEndian(UInt32(truncatingIfNeeded: value), to: &out)
        } else {
            out.append(0xD3)
            appendBigEndian(UInt64(bitPattern: value), to: &out)
        }
    }

    /// A non-negative integer in the smallest format: positive fixint, uint 8, 16, 32 or 64.
    static func writeUInt(_ value: UInt64, into out: inout [UInt8]) {
        if value <= 0x7F {
            out.append(UInt8(value))
        } else if value <= 0xFF {
            out.append(0xCC)
            out.append(UInt8(value))
        } else if value <= 0xFFFF {
            out.append(0xCD)
            appendBigEndian(UInt16(value), to: &out)
        } else if value <= 0xFFFF_FFFF {
            out.append(0xCE)
            appendBigEndian(UInt32(value), to: &out)
        } else {
            out.append(0xCF)
            appendBigEndian(value, to: &out)
        }
    }

    /// float 64 (0xCB), any value including NaN and the infinities.
    static func writeDouble(_ value: Double, into out: inout [UInt8]) {
        out.append(0xCB)
        appendBigEndian(value.bitPattern, to: &out)
    }

    /// float 32 (0xCA).
    static func writeFloat(_ value: Float, into out: inout [UInt8]) {
        out.append(0xCA)
        appendBigEndian(value.bitPattern, to: &out)
    }

    /// A str value (fixstr, str 8, 16 or 32) holding the UTF-8 of `value`.
    static func writeString(_ value: String, into out: inout [UInt8]) {
        var value = value
        value.withUTF8 { writeString(utf8: UnsafeRawBufferPointer($0), into: &out) }
    }

    /// A str value from bytes that are already UTF-8 (not checked).
    static func writeString(utf8 bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let n = bytes.count
        if n <= 31 {
            out.append(0xA0 | UInt8(n))
        } else if n <= 0xFF {
            out.append(0xD9)
            out.append(UInt8(n))
        } else if n <= 0xFFFF {
            out.append(0xDA)
            appendBigEndian(UInt16(n), to: &out)
        } else {
            out.append(0xDB)
            appendBigEndian(UInt32(n), to: &out)
        }
        out.append(contentsOf: bytes)
    }

    /// A bin value (bin 8, 16 or 32).
    static func writeBinary(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let n = bytes.count
        if n <= 0xFF {
            out.append(0xC4)
            out.append(UInt8(n))
        } else if n <= 0xFFFF {
            out.append(0xC5)
            appendBigEndian(UInt16(n), to: &out)
        } else {
            out.append(0xC6)
            appendBigEndian(UInt32(n), to: &out)
        }
        out.append(contentsOf: bytes)
    }

    /// The header of an array of `count` elements (fixarray, array 16 or 32); the elements follow.
    static func writeArrayHeader(_ count: Int, into out: inout [UInt8]) {
        if count <= 15 {
            out.append(0x90 | UInt8(count))
        } else if count <= 0xFFFF {
            out.append(0xDC)
            appendBigEndian(UInt16(count), to: &out)
        } else {
            out.append(0xDD)
            appendBigEndian(UInt32(count), to: &out)
        }
    }

    /// The header of a map of `count` key/value pairs (fixmap, map 16 or 32); the pairs follow.
    static func writeMapHeader(_ count: Int, into out: inout [UInt8]) {
        if count <= 15 {
            out.append(0x80 | UInt8(count))
        } else if count <= 0xFFFF {
            out.append(0xDE)
            appendBigEndian(UInt16(count), to: &out)
        } else {
            out.append(0xDF)
            appendBigEndian(UInt32(count), to: &out)
        }
    }

    @inline(__always)
    private static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }
}
