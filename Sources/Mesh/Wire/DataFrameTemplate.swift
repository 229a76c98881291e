/// The DATA frames of one origin's life that carry neither destinations nor FILTERED_BEFORE, written from a
/// header prepared once: per frame, three fields patched and two copies (header, payload) instead of thirty-odd
/// single-byte appends. The bytes are the same as ``MeshFrame/appendData(origin:epoch:seq:flags:destinations:filtered:payload:into:)``'s.
struct DataFrameTemplate {
    /// `u32 length · type · origin (u16 string) · epoch · seq · flags · u32 payload length`
    private var header: [UInt8]
    /// Where `seq` starts in `header` (flags and the payload length follow it).
    private let seqOffset: Int

    init(origin: String, epoch: UInt64) {
        var header = [UInt8]()
        header.reserveCapacity(MeshFrame.dataFrameCount(originCount: origin.utf8.count, payloadCount: 0))
        header.appendUInt32(0)
        header.append(MeshFrameType.data.rawValue)
        header.appendString(origin)
        header.appendUInt64(epoch)
        seqOffset = header.count
        header.appendUInt64(0)
        header.append(0)
        header.appendUInt32(0)
        self.header = header
    }

    /// Appends one frame. `flags`: GAP_BEFORE and NOT_HELD_BEFORE only (the optional-part bits are cleared).
    @inline(__always)
    mutating func append(seq: UInt64, flags: UInt8, payload: [UInt8], into buffer: inout [UInt8]) {
        let length = UInt32(header.count - 4 + payload.count)
        let payloadCount = UInt32(payload.count)
        let flags = MeshData.flags(flags, destinations: nil, filtered: nil)
        let offset = seqOffset
        header.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: length.bigEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: seq.bigEndian, toByteOffset: offset, as: UInt64.self)
            raw[offset + 8] = flags
            raw.storeBytes(of: payloadCount.bigEndian, toByteOffset: offset + 9, as: UInt32.self)
        }
        buffer.append(contentsOf: header)
        buffer.append(contentsOf: payload)
    }
}
