#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Strings the decoder can hand out without allocating or validating UTF-8 again: the node ids, which
/// every DATA, ACK and RESUME frame repeats. Small (one entry per replica), so a linear scan wins.
/// A class, so that handing it to the decoder per frame costs one retain rather than one per array.
public final class InternTable: Sendable {
    private let strings: [String]
    private let utf8: [[UInt8]]

    public init(_ strings: [String] = []) {
        self.strings = strings
        self.utf8 = strings.map { Array($0.utf8) }
    }

    /// The known string with exactly these bytes, if any.
    @inline(__always)
    func lookup(_ raw: UnsafeRawBufferPointer) -> String? {
        index(of: raw).map { strings[$0] }
    }

    /// Where the known string with exactly these bytes is, if any (see ``subscript(_:)``). `hint`: the index to try
    /// first (a link's frames mostly repeat the last origin).
    @inline(__always)
    func index(of raw: UnsafeRawBufferPointer, hint: Int = -1) -> Int? {
        let count = raw.count
        guard count > 0, let bytes = raw.baseAddress else { return strings.firstIndex { $0.isEmpty } }
        if hint >= 0 && hint < utf8.count && utf8[hint].count == count
            && utf8[hint].withUnsafeBytes({ memcmp($0.baseAddress!, bytes, count) == 0 })
        {
            return hint
        }
        for i in utf8.indices where utf8[i].count == count {
            if utf8[i].withUnsafeBytes({ memcmp($0.baseAddress!, bytes, count) == 0 }) { return i }
        }
        return nil
    }

    /// The string at `index` (from ``index(of:)``).
    @inline(__always)
    subscript(index: Int) -> String { strings[index] }
}
