@testable import SignalRMesh

/// `json`: the byte-level JSON parser behind the hub protocol, on one whole document.
///
/// Checks:
/// - `skipValue` (the allocation-free validator used for unknown members) accepts exactly what `parseValue` accepts;
/// - a parsed value, written out, parses to an equal value and writes the same bytes again;
/// - integer literals read by `JSONNumber.integer` agree with `Int64(_:)`;
/// - a syntax error's offset lies inside the document;
/// - whatever the hub-message and handshake readers accept is valid JSON.
///
/// Flags: bit 0 = nesting limit 4 instead of 64.
enum JSONTarget {
    static func run(_ input: FuzzInput) {
        let bytes = input.payload
        let maxDepth = input.flag(0) ? 4 : 64
        let parsed = Result { try JSONParser.parse(bytes, maxDepth: maxDepth) }
        let skipped = bytes.withUnsafeBytes { raw -> Result<Void, any Error> in
            var scanner = JSONScanner(raw, maxDepth: maxDepth)
            return Result {
                scanner.skipWhitespace()
                try scanner.skipValue()
                try scanner.expectEnd()
            }
        }
        switch (parsed, skipped) {
        case (.success, .success):
            break
        case (.failure(let a), .failure(let b)):
            check((a as? JSONError) == (b as? JSONError), "parseValue and skipValue fail differently: \(a) / \(b)")
        default:
            fuzzFailure("parseValue and skipValue disagree: \(parsed) / \(skipped)")
        }

        switch parsed {
        case .success(let value):
            checkRoundTrip(value, maxDepth: maxDepth)
            visit(value)
        case .failure(let error):
            guard let error = error as? JSONError else { fuzzFailure("parse threw \(error)") }
            if case .syntax(let offset, _) = error { check(offset >= 0 && offset <= bytes.count, "error offset \(offset)") }
        }

        let isJSON = maxDepth == 64 ? (try? parsed.get()) != nil : (try? JSONParser.parse(bytes)) != nil
        if (try? JSONHubProtocol.parse(bytes)) != nil { check(isJSON, "the hub reader accepted invalid JSON") }
        if (try? Handshake.parseRequest(bytes)) != nil { check(isJSON, "the handshake reader accepted invalid JSON") }
        _ = try? bytes.withUnsafeBytes { try Handshake.parseResponse($0) }
    }

    static func checkRoundTrip(_ value: JSONValue, maxDepth: Int) {
        var out: [UInt8] = []
        JSONWriter.write(value, into: &out)
        do {
            let again = try JSONParser.parse(out, maxDepth: maxDepth)
            check(again == value, "round trip changed the value:\n  \(value)\n  \(again)")
            var second: [UInt8] = []
            JSONWriter.write(again, into: &second)
            check(second == out, "writing is not stable for \(value)")
        } catch {
            fuzzFailure("written JSON does not parse: \(error)\n  \(String(decoding: out, as: UTF8.self))")
        }
    }

    /// Walks the value: numbers through every accessor, integer literals against the standard library.
    static func visit(_ value: JSONValue) {
        switch value {
        case .number(let text):
            _ = value.doubleValue
            _ = value.intValue
            let isIntegerLiteral = !text.utf8.contains { $0 == JSONByte.dot || $0 == JSONByte.lowerE || $0 == JSONByte.upperE }
            if isIntegerLiteral {
                check(value.int64Value == Int64(text), "JSONNumber.integer(\(text)) = \(String(describing: value.int64Value))")
            } else {
                check(value.int64Value == nil, "\(text) read as an integer")
            }
        case .array(let elements):
            for element in elements { visit(element) }
        case .object(let members):
            for (key, member) in members {
                check(value[key] != nil, "member \(key) not found by subscript")
                visit(member)
            }
        case .null, .bool, .string:
            break
        }
    }
}
