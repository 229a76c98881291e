/// The rules for a name a connection is online under (``HubPresence``): names are chosen by users and shown to
/// everyone, so they are short and printable.
///
/// A valid name has 1 to ``maxCharacters`` characters and at most ``maxBytes`` bytes of UTF-8, is not only
/// whitespace, and has no control characters (C0, DEL, C1), no line or paragraph separators and no bidirectional
/// embedding, override or isolate characters (which could reorder the text shown around them). Names are compared
/// byte for byte, like group names.
enum PresenceName {
    static let maxCharacters = 64
    static let maxBytes = 256

    /// Why `name` is refused, or nil when it is fine.
    static func problem(_ name: String) -> String? {
        let bytes = name.utf8.count
        guard bytes > 0 else { return "A presence name can't be empty." }
        guard bytes <= maxBytes, name.count <= maxCharacters else {
            return "Presence names are limited to \(maxCharacters) characters (\(maxBytes) bytes of UTF-8)."
        }
        var printable = false
        for scalar in name.unicodeScalars {
            if isForbidden(scalar) {
                return "A presence name can't contain control characters (U+\(hex(scalar.value)))."
            }
            if !scalar.properties.isWhitespace { printable = true }
        }
        guard printable else { return "A presence name can't be only whitespace." }
        return nil
    }

    static func isValid(_ name: String) -> Bool { problem(name) == nil }

    private static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0, DEL, C1
        case 0x2028, 0x2029: return true  // line and paragraph separators
        case 0x202A...0x202E, 0x2066...0x2069: return true  // bidi embeddings, overrides, isolates
        default: return false
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
