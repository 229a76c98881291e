/// One DATA frame without optional parts (no destinations, no FILTERED_BEFORE) as the decoder read it, its payload
/// still in the decoder's bytes: the receiving link's hot path (``MeshFrameDecoder/nextData()``), which copies a
/// payload only for a message it keeps. Made of plain values and pointers only (no reference counting), so handing
/// it around costs nothing.
///
/// ``payload`` and the origin's bytes are valid until the next call on the decoder that produced it.
public struct MeshDataView {
    /// The origin's UTF-8 (validated), borrowed like ``payload``.
    public var originBytes: UnsafeRawBufferPointer
    /// Where the origin is in the decoder's intern table (nil: not there).
    public var internIndex: Int?
    public var epoch: UInt64
    public var seq: UInt64
    /// ``MeshData/gapBeforeFlag`` and ``MeshData/notHeldBeforeFlag`` (as ``MeshData/flags``).
    public var flags: UInt8
    /// Borrowed from the decoder (see above).
    public var payload: UnsafeRawBufferPointer

    /// - Parameters:
    ///   - originBytes: the origin's UTF-8 (valid UTF-8: it is not checked again).
    ///   - internIndex: where the origin is in the intern table it will be read with (``origin(interned:)``), if there.
    public init(
        originBytes: UnsafeRawBufferPointer, internIndex: Int? = nil, epoch: UInt64, seq: UInt64, flags: UInt8,
        payload: UnsafeRawBufferPointer
    ) {
        self.originBytes = originBytes
        self.internIndex = internIndex
        self.epoch = epoch
        self.seq = seq
        self.flags = flags
        self.payload = payload
    }

    /// The origin as a string: the interned one when there is one (no allocation). `table`: the decoder's intern
    /// table (``MeshFrameDecoder/intern``).
    public func origin(interned table: InternTable?) -> String {
        if let internIndex, let table { return table[internIndex] }
        return String(decoding: originBytes, as: UTF8.self)
    }

    public var gapBefore: Bool { flags & MeshData.gapBeforeFlag != 0 }
    public var notHeldBefore: Bool { flags & MeshData.notHeldBeforeFlag != 0 }

    /// The frame as a ``MeshData`` that owns its payload. `table`: as for ``origin(interned:)``.
    public func owned(interned table: InternTable?) -> MeshData {
        MeshData(origin: origin(interned: table), epoch: epoch, seq: seq, flags: flags, payload: [UInt8](payload))
    }

    /// Decodes a DATA body (after the type byte): `bytes[start..<end]`. The one parser of DATA bodies
    /// (``MeshFrame/decode(_:range:intern:)`` uses it too, with `parts`). `internHint`: the intern index to try first.
    ///
    /// The fixed part (origin, epoch, seq, flags, payload length) is read with one bounds check per field group
    /// rather than per byte; the optional parts go through ``WireReader``. With `parts` nil, a frame that has
    /// optional parts is not decoded: nil.
    @inline(__always)
    static func decode(
        _ bytes: UnsafeRawBufferPointer, start: Int, end: Int, intern: InternTable?, internHint: Int = -1,
        parts: UnsafeMutablePointer<(destinations: [String]?, filtered: FilteredRange?)>? = nil
    ) throws(MeshWireError) -> MeshDataView? {
        guard end - start >= 2 else { throw .truncated(.data) }
        let originCount = Int(bytes[start]) << 8 | Int(bytes[start + 1])
        var index = start + 2
        guard end - index >= originCount else { throw .truncated(.data) }
        let originBytes = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + originCount)])
        let internIndex = intern?.index(of: originBytes, hint: internHint)
        if internIndex == nil && String(validating: originBytes, as: UTF8.self) == nil { throw .invalidUTF8(.data) }
        index += originCount
        // epoch · seq · flags
        guard end - index >= 17 else { throw .truncated(.data) }
        let epoch = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
        let seq = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self))
        let flags = bytes[index + 16]
        index += 17
        if flags & (MeshData.hasDestinationsFlag | MeshData.filteredBeforeFlag) != 0 {
            guard let parts else { return nil }
            var reader = WireReader(bytes, range: index..<end, type: .data, intern: intern)
            if flags & MeshData.hasDestinationsFlag != 0 {
                let count = Int(try reader.u8())
                var list = [String]()
                // Each id is ≥ 1 byte (its length).
                list.reserveCapacity(min(count, reader.remaining))
                for _ in 0..<count { list.append(try reader.shortString()) }
                parts.pointee.destinations = list
            }
            if flags & MeshData.filteredBeforeFlag != 0 {
                let from = try reader.u64()
                let count = Int(try reader.u8())
                var marks = [FilteredRange.Mark]()
                // Each mark is ≥ 9 bytes.
                marks.reserveCapacity(min(count, reader.remaining / 9))
                for _ in 0..<count {
                    let replica = try reader.shortString()
                    marks.append(FilteredRange.Mark(replica: replica, seq: try reader.u64()))
                }
                parts.pointee.filtered = FilteredRange(from: from, latest: marks)
            }
            index = reader.index
        }
        guard end - index >= 4 else { throw .truncated(.data) }
        let count = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)))
        index += 4
        guard end - index >= count else { throw .truncated(.data) }
        guard end - index == count else { throw .trailingBytes(.data) }
        return MeshDataView(
            originBytes: originBytes, internIndex: internIndex, epoch: epoch, seq: seq, flags: flags & ~(MeshData.hasDestinationsFlag | MeshData.filteredBeforeFlag),
            payload: UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
    }
}
