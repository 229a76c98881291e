/// Why a document was rejected.
enum JSONError: Error, Equatable, CustomStringConvertible {
    /// Not JSON at byte `offset` (from the start of the parsed buffer).
    case syntax(offset: Int, String)
    /// Arrays/objects nested deeper than the parser's `maxDepth`.
    case tooDeep
    /// A string holds bytes that are not well-formed UTF-8 (overlong forms, encoded surrogates, truncations…).
    case invalidUTF8

    var description: String {
        switch self {
        case .syntax(let offset, let message): return "\(message) at byte \(offset)"
        case .tooDeep: return "JSON nested too deeply"
        case .invalidUTF8: return "invalid UTF-8 in a JSON string"
        }
    }
}
