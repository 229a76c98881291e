/// Entry points of the parser. See ``JSONScanner`` for the machinery.
struct JSONParser {
    /// Parses exactly one JSON value (any kind, not only objects). Whitespace around it is allowed; anything
    /// else after it is an error.
    /// - Parameter maxDepth: how many arrays/objects may nest (64, like System.Text.Json's default).
    /// - Throws: ``JSONError``.
    static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSONValue {
        var scanner = JSONScanner(bytes, maxDepth: maxDepth)
        scanner.skipWhitespace()
        let value = try scanner.parseValue()
        try scanner.expectEnd()
        return value
    }

    static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, maxDepth: maxDepth) }
    }

    static func parse(_ text: String, maxDepth: Int = 64) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(UnsafeRawBufferPointer($0), maxDepth: maxDepth) }
    }
}

// MARK: - Scanner
