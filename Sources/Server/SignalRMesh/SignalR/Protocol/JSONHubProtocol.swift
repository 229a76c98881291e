// The "json" hub protocol: one JSON object per message, each followed by the record separator 0x1E
// (framing is RecordSeparatorFramer's job; this file reads and writes single messages).

/// Reads and writes hub messages in the JSON hub protocol.
///
/// Reading walks the top-level object directly with ``JSONScanner``: keys are matched on their raw bytes,
/// unknown members are validated and skipped without allocating, and only the parts a message keeps become
/// `String`s or ``JSONValue``s. Members may come in any order (`type` need not be first), property names are
/// case-sensitive, and a repeated property takes its last value.
struct JSONHubProtocol: HubProtocol {
    /// The protocol name used in the handshake.
    static let name = "json"

    var name: String { Self.name }
    /// ASP.NET Core's JSON protocol is version 2 and accepts any version up to it (`version <= Version`): the JS
    /// and .NET clients send 1, or 2 with stateful reconnect; signalrcore sends 0.
    var versions: ClosedRange<Int> { Int.min...2 }
    var transferFormat: TransferFormat { .text }
    var kind: HubProtocolKind { .json }
    var pingMessage: [UInt8] { Self.pingMessage }
    func makeReader(maxMessageSize: Int) -> any HubMessageReader {
        FramedMessageReader(RecordSeparatorFramer(maxMessageSize: maxMessageSize)) { try Self.parse($0) }
    }
    func write(_ message: HubMessage, into out: inout [UInt8]) { Self.encode(message, into: &out) }

    /// `{"type":6}` + 0x1E, ready to write.
    static let pingMessage: [UInt8] = Array("{\"type\":6}".utf8) + [JSONByte.recordSeparator]

    // MARK: Parsing

    /// Parses ONE message (without its 0x1E).
    /// - Throws: ``HubProtocolError``.
    static func parse(_ message: UnsafeRawBufferPointer) throws -> HubMessage {
        var scanner = JSONScanner(message)
        do {
            scanner.skipWhitespace()
            guard scanner.current == JSONByte.openBrace else {
                if scanner.atEnd { throw HubProtocolError.invalidJSON("empty message") }
                throw HubProtocolError.invalidJSON("a hub message must be a JSON object")
            }
            var fields = Fields()
            try scanner.forEachMember { scanner, key in try fields.read(key, &scanner) }
            try scanner.expectEnd()
            return try fields.message()
        } catch let error as JSONError {
            throw HubProtocolError.invalidJSON(error.description)
        }
    }

    static func parse(_ message: [UInt8]) throws -> HubMessage {
        try message.withUnsafeBytes { try parse($0) }
    }

    /// The known property names. Matching them on raw bytes avoids building a `String` per key.
    private enum Key {
        case type, invocationId, target, arguments, streamIds, headers, item, result, error, allowReconnect
        case sequenceId, unknown

        static func classify(_ raw: UnsafeRawBufferPointer) -> Key {
            @inline(__always) func matches(_ name: StaticString) -> Bool {
                let p = name.utf8Start
                for i in 0..<raw.count where raw[i] != p[i] { return false }
                return true
            }
            switch raw.count {
            case 4:
                if matches("type") { return .type }
                if matches("item") { return .item }
            case 5:
                if matches("error") { return .error }
            case 6:
                if matches("target") { return .target }
                if matches("result") { return .result }
            case 7:
                if matches("headers") { return .headers }
            case 9:
                if matches("arguments") { return .arguments }
                if matches("streamIds") { return .streamIds }
            case 10:
                if matches("sequenceId") { return .sequenceId }
            case 12:
                if matches("invocationId") { return .invocationId }
            case 14:
                if matches("allowReconnect") { return .allowReconnect }
            default:
                break
            }
            return .unknown
        }
    }

    /// Everything a message may carry, collected in one pass; ``message()`` then checks what the type needs.
    private struct Fields {
        var type: Int?
        var invocationId: String?
        var target: String?
        var arguments: [JSONValue]?
        var streamIds: [String]?
        var headers: [String: String]?
        /// Present-ness matters for these two (a `null` item/result is still an item/result).
        var item: JSONValue?
        var result: JSONValue?
        var error: String?
        var allowReconnect: Bool?
        var sequenceId: Int64?

        mutating func read(_ keyToken: JSONStringToken, _ s: inout JSONScanner) throws {
            let key: Key
            if keyToken.hasEscapes {
                // Rare: a key spelled with escapes (`"t\u0079pe"`) still names the same property.
                var name = s.string(keyToken)
                key = name.withUTF8 { Key.classify(UnsafeRawBufferPointer($0)) }
            } else {
                key = Key.classify(s.raw(keyToken))
            }
            switch key {
            case .type:
                guard s.current == JSONByte.minus || (JSONByte.zero...JSONByte.nine).contains(s.current) else {
                    try s.skipValue()
                    throw HubProtocolError.invalidField("type")
                }
                let range = try s.scanNumber()
                guard let value = JSONNumber.integer(UnsafeRawBufferPointer(rebasing: s.bytes[range])),
                    let int = Int(exactly: value)
                else { throw HubProtocolError.invalidField("type") }
                type = int
            case .invocationId:
                invocationId = try readOptionalString(&s, "invocationId")
            case .target:
                target = try readOptionalString(&s, "target")
            case .error:
                error = try readOptionalString(&s, "error")
            case .arguments:
                guard s.current == JSONByte.openBracket else { throw HubProtocolError.invalidField("arguments") }
                arguments = try s.parseArray()
            case .streamIds:
                streamIds = try readStreamIds(&s)
            case .headers:
                headers = try readHeaders(&s)
            case .item:
                item = try s.parseValue()
            case .result:
                result = try s.parseValue()
            case .allowReconnect:
                switch try s.parseValue() {
                case .bool(let b): allowReconnect = b
                case .null: allowReconnect = nil
                default: throw HubProtocolError.invalidField("allowReconnect")
                }
            case .sequenceId:
                guard s.current == JSONByte.minus || (JSONByte.zero...JSONByte.nine).contains(s.current) else {
                    try s.skipValue()
                    throw HubProtocolError.invalidField("sequenceId")
                }
                let range = try s.scanNumber()
                guard let value = JSONNumber.integer(UnsafeRawBufferPointer(rebasing: s.bytes[range])) else {
                    throw HubProtocolError.invalidField("sequenceId")
                }
                sequenceId = value
            case .unknown:
                try s.skipValue()
            }
        }

        /// A string, or nil for `null`; anything else is an invalid field.
        private func readOptionalString(_ s: inout JSONScanner, _ name: String) throws -> String? {
            switch s.current {
            case JSONByte.quote:
                return try s.parseString()
            case JSONByte.lowerN:
                _ = try s.parseValue()
                return nil
            default:
                try s.skipValue()
                throw HubProtocolError.invalidField(name)
            }
        }

        private func readStreamIds(_ s: inout JSONScanner) throws -> [String]? {
            if s.current == JSONByte.lowerN {
                _ = try s.parseValue()
                return nil
            }
            guard s.current == JSONByte.openBracket, case .array(let elements) = try s.parseValue() else {
                throw HubProtocolError.invalidField("streamIds")
            }
            var ids: [String] = []
            ids.reserveCapacity(elements.count)
            for element in elements {
                guard case .string(let id) = element else { throw HubProtocolError.invalidField("streamIds") }
                ids.append(id)
            }
            return ids
        }

        /// Headers are string→string, but clients send whatever they like: non-string values are skipped,
        /// not rejected. `null` counts as absent.
        private func readHeaders(_ s: inout JSONScanner) throws -> [String: String]? {
            if s.current == JSONByte.lowerN {
                _ = try s.parseValue()
                return nil
            }
            guard s.current == JSONByte.openBrace else { throw HubProtocolError.invalidField("headers") }
            var headers: [String: String] = [:]
            try s.forEachMember { s, key in
                if s.current == JSONByte.quote {
                    let value = try s.parseString()
                    headers[s.string(key)] = value
                } else {
                    try s.skipValue()
                }
            }
            return headers
        }

        func message() throws -> HubMessage {
            guard let type else { throw HubProtocolError.missingField("type") }
            switch type {
            case 1:
                return .invocation(try invocation())
            case 2:
                guard let invocationId else { throw HubProtocolError.missingField("invocationId") }
                guard let item else { throw HubProtocolError.missingField("item") }
                return .streamItem(invocationId: invocationId, item: item)
            case 3:
                guard let invocationId else { throw HubProtocolError.missingField("invocationId") }
                // .NET: "The 'error' and 'result' properties are mutually exclusive."
                if result != nil && error != nil { throw HubProtocolError.invalidField("result") }
                return .completion(invocationId: invocationId, result: result, error: error)
            case 4:
                guard invocationId != nil else { throw HubProtocolError.missingField("invocationId") }
                return .streamInvocation(try invocation())
            case 5:
                guard let invocationId else { throw HubProtocolError.missingField("invocationId") }
                return .cancelInvocation(invocationId: invocationId)
            case 6:
                return .ping
            case 7:
                return .close(error: error, allowReconnect: allowReconnect ?? false)
            case 8:
                guard let sequenceId else { throw HubProtocolError.missingField("sequenceId") }
                return .ack(sequenceId: sequenceId)
            case 9:
                guard let sequenceId else { throw HubProtocolError.missingField("sequenceId") }
                return .sequence(sequenceId: sequenceId)
            default:
                throw HubProtocolError.unknownType(type)
            }
        }

        private func invocation() throws -> InvocationMessage {
            guard let target else { throw HubProtocolError.missingField("target") }
            guard let arguments else { throw HubProtocolError.missingField("arguments") }
            return InvocationMessage(
                invocationId: invocationId, target: target, arguments: arguments, streamIds: streamIds,
                headers: headers)
        }
    }

    // MARK: Encoding

    /// Appends `message` as JSON followed by 0x1E. Absent optionals are left out: `{"type":7}`,
    /// `{"type":3,"invocationId":"1"}` (void completion); `allowReconnect` is written only when true.
    static func encode(_ message: HubMessage, into out: inout [UInt8]) {
        switch message {
        case .invocation(let invocation):
            writeInvocation(invocation, type: 1, into: &out)
        case .streamInvocation(let invocation):
            writeInvocation(invocation, type: 4, into: &out)
        case .streamItem(let invocationId, let item):
            JSONWriter.appendASCII("{\"type\":2,\"invocationId\":", to: &out)
            JSONWriter.writeString(invocationId, into: &out)
            JSONWriter.appendASCII(",\"item\":", to: &out)
            JSONWriter.write(item, into: &out)
            out.append(JSONByte.closeBrace)
        case .completion(let invocationId, let result, let error):
            JSONWriter.appendASCII("{\"type\":3,\"invocationId\":", to: &out)
            JSONWriter.writeString(invocationId, into: &out)
            if let error {
                JSONWriter.appendASCII(",\"error\":", to: &out)
                JSONWriter.writeString(error, into: &out)
            } else if let result {
                JSONWriter.appendASCII(",\"result\":", to: &out)
                JSONWriter.write(result, into: &out)
            }
            out.append(JSONByte.closeBrace)
        case .cancelInvocation(let invocationId):
            JSONWriter.appendASCII("{\"type\":5,\"invocationId\":", to: &out)
            JSONWriter.writeString(invocationId, into: &out)
            out.append(JSONByte.closeBrace)
        case .ping:
            JSONWriter.appendASCII("{\"type\":6}", to: &out)
        case .close(let error, let allowReconnect):
            JSONWriter.appendASCII("{\"type\":7", to: &out)
            if let error {
                JSONWriter.appendASCII(",\"error\":", to: &out)
                JSONWriter.writeString(error, into: &out)
            }
            if allowReconnect { JSONWriter.appendASCII(",\"allowReconnect\":true", to: &out) }
            out.append(JSONByte.closeBrace)
        case .ack(let sequenceId):
            JSONWriter.appendASCII("{\"type\":8,\"sequenceId\":", to: &out)
            JSONWriter.writeInteger(sequenceId, into: &out)
            out.append(JSONByte.closeBrace)
        case .sequence(let sequenceId):
            JSONWriter.appendASCII("{\"type\":9,\"sequenceId\":", to: &out)
            JSONWriter.writeInteger(sequenceId, into: &out)
            out.append(JSONByte.closeBrace)
        }
        out.append(JSONByte.recordSeparator)
    }

    /// `encode` into a fresh buffer.
    static func encode(_ message: HubMessage) -> [UInt8] {
        var out: [UInt8] = []
        encode(message, into: &out)
        return out
    }

    private static func writeInvocation(_ invocation: InvocationMessage, type: Int64, into out: inout [UInt8]) {
        JSONWriter.appendASCII("{\"type\":", to: &out)
        JSONWriter.writeInteger(type, into: &out)
        if let headers = invocation.headers { writeHeaders(headers.sorted { $0.key < $1.key }, into: &out) }
        if let invocationId = invocation.invocationId {
            JSONWriter.appendASCII(",\"invocationId\":", to: &out)
            JSONWriter.writeString(invocationId, into: &out)
        }
        JSONWriter.appendASCII(",\"target\":", to: &out)
        JSONWriter.writeString(invocation.target, into: &out)
        JSONWriter.appendASCII(",\"arguments\":", to: &out)
        JSONWriter.write(.array(invocation.arguments), into: &out)
        if let streamIds = invocation.streamIds {
            JSONWriter.appendASCII(",\"streamIds\":[", to: &out)
            for (i, id) in streamIds.enumerated() {
                if i > 0 { out.append(JSONByte.comma) }
                JSONWriter.writeString(id, into: &out)
            }
            out.append(JSONByte.closeBracket)
        }
        out.append(JSONByte.closeBrace)
    }

    private static func writeHeaders(_ headers: [(key: String, value: String)], into out: inout [UInt8]) {
        JSONWriter.appendASCII(",\"headers\":{", to: &out)
        for (i, header) in headers.enumerated() {
            if i > 0 { out.append(JSONByte.comma) }
            JSONWriter.writeString(header.key, into: &out)
            out.append(JSONByte.colon)
            JSONWriter.writeString(header.value, into: &out)
        }
        out.append(JSONByte.closeBrace)
    }

    /// Fast path for server→client broadcasts: `{"type":1,"target":…,"arguments":[…]}` + 0x1E, with the arguments
    /// written in place by `writeArguments` (comma-separated JSON values, no brackets): a hub's `SendAsync` encodes its
    /// values straight into the message. No `invocationId`: broadcasts never expect an answer.
    static func encodeInvocation(
        target: String, headers: [(key: String, value: String)]?, into out: inout [UInt8],
        writeArguments: (inout [UInt8]) throws -> Void
    ) rethrows {
        JSONWriter.appendASCII("{\"type\":1", to: &out)
        if let headers { writeHeaders(headers, into: &out) }
        JSONWriter.appendASCII(",\"target\":", to: &out)
        JSONWriter.writeString(target, into: &out)
        JSONWriter.appendASCII(",\"arguments\":[", to: &out)
        try writeArguments(&out)
        JSONWriter.appendASCII("]}", to: &out)
        out.append(JSONByte.recordSeparator)
    }
}
