/// Appends the big-endian fields of a ``ClusterMessage``.
struct ClusterWireWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func header(_ kind: ClusterMessage.Kind) {
        bytes.append(ClusterMessage.version)
        bytes.append(kind.rawValue)
    }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: Int) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }
    mutating func u32(_ v: Int) {
        u16(v >> 16)
        u16(v & 0xFFFF)
    }
    mutating func u64(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
    /// Strings longer than 65 535 bytes are cut there (names and ids are far shorter; callers check).
    mutating func string(_ s: String) {
        let utf8 = s.utf8.prefix(65_535)
        u16(utf8.count)
        bytes.append(contentsOf: utf8)
    }
    mutating func list(_ items: [String]) {
        let count = min(items.count, 65_535)
        u16(count)
        for item in items.prefix(count) { string(item) }
    }
    mutating func key(_ key: InterestKey) {
        string(key.hub)
        u8(key.kind.rawValue)
        string(key.name)
    }
}
