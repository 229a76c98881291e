/// Reads the fields of a ``ClusterMessage``; every read returns nil past the end.
struct ClusterWireReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var index = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - index }
    var atEnd: Bool { index == bytes.count }

    mutating func u8() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }
    mutating func u16() -> Int? {
        guard let a = u8(), let b = u8() else { return nil }
        return Int(a) << 8 | Int(b)
    }
    mutating func u32() -> Int? {
        guard let a = u16(), let b = u16() else { return nil }
        return a << 16 | b
    }
    mutating func u64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(bytes[index]); index += 1 }
        return v
    }
    mutating func take(_ n: Int) -> Range<Int>? {
        guard n >= 0, n <= remaining else { return nil }
        defer { index += n }
        return index..<index + n
    }
    mutating func stringRange() -> Range<Int>? {
        guard let n = u16() else { return nil }
        return take(n)
    }
    mutating func string() -> String? {
        stringRange().map { String(decoding: bytes[$0], as: UTF8.self) }
    }
    mutating func list() -> [String]? {
        guard let count = u16() else { return nil }
        var items: [String] = []
        items.reserveCapacity(min(count, remaining / 2))
        for _ in 0..<count {
            guard let s = string() else { return nil }
            items.append(s)
        }
        return items
    }
    mutating func key() -> InterestKey? {
        guard let hub = string(), let raw = u8(), let kind = InterestKey.Kind(rawValue: raw), let name = string() else {
            return nil
        }
        return InterestKey(hub: hub, kind: kind, name: name)
    }
}
