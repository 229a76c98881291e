// Errors of the MessagePack reader and of the msgpack → JSONValue mapping.

/// Why MessagePack bytes were rejected. Offsets count from the start of the buffer given to the reader (for a hub
/// message: from the first byte after its length prefix).
///
/// Hub-level problems (a missing element, a field of the wrong type, an unknown message type) are
/// ``HubProtocolError``s instead; these are about the encoding itself.
enum MessagePackError: Error, Equatable, CustomStringConvertible {
    /// The value starting at `offset` needs more bytes than the buffer holds (this includes arrays and maps that
    /// announce more elements than there are bytes left).
    case truncated(offset: Int)
    /// 0xC1, the one byte MessagePack never uses, at `offset`.
    case invalidFormat(offset: Int)
    /// Something else than `expected` (a short English noun phrase, "an array") at `offset`.
    case unexpectedType(expected: String, offset: Int)
    /// Arrays/maps nested deeper than the reader's `maxDepth` (the hub message's own array counts as level 1).
    case tooDeep(maxDepth: Int)
    /// A str value (or map key) at `offset` is not well-formed UTF-8.
    case invalidUTF8(offset: Int)
    /// A map key at `offset` is not a string: JSON objects only have string keys.
    case nonStringKey(offset: Int)
    /// An extension value (ext/fixext, including the timestamp type -1) at `offset`: it has no JSON form.
    case unsupportedExtension(type: Int8, offset: Int)
    /// Bytes left over after the value ended, starting at `offset`.
    case trailingBytes(offset: Int)

    var description: String {
        switch self {
        case .truncated(let offset): return "MessagePack value at byte \(offset) runs past the end of the message"
        case .invalidFormat(let offset): return "invalid MessagePack format byte 0xC1 at byte \(offset)"
        case .unexpectedType(let expected, let offset): return "expected \(expected) at byte \(offset)"
        case .tooDeep(let maxDepth): return "MessagePack nested deeper than \(maxDepth) levels"
        case .invalidUTF8(let offset): return "invalid UTF-8 in the MessagePack string at byte \(offset)"
        case .nonStringKey(let offset): return "MessagePack map key at byte \(offset) is not a string"
        case .unsupportedExtension(let type, let offset):
            return "MessagePack extension type \(type) at byte \(offset) is not supported"
        case .trailingBytes(let offset): return "unexpected bytes after the MessagePack value at byte \(offset)"
        }
    }
}
