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
        for i in utf8.indices where utf8[i].count == raw.count {
            if utf8[i].withUnsafeBytes({ $0.elementsEqual(raw) }) { return strings[i] }
        }
        return nil
    }
}
