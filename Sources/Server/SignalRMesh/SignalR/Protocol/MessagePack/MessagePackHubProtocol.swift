// The "messagepack" hub protocol (HubProtocol.md "MessagePack (MsgPack) encoding"): every message is one
// MessagePack array whose first element is the type id, framed as `[VarInt length][body]`.

/// Reads and writes hub messages in the MessagePack hub protocol.
///
/// The layouts (`Headers` is a map of string → string right after the type, `{}` when empty):
///
/// | Message | Array |
/// |---|---|
/// | Invocation | `[1, Headers, InvocationId \| nil, Target, [Arguments], [StreamIds]]` (the last may be absent) |
/// | StreamItem | `[2, Headers, InvocationId, Item]` |
/// | Completion | `[3, Headers, InvocationId, ResultKind, Result?]`: 1 = error (Result is its text), 2 = void, 3 = value |
/// | StreamInvocation | `[4, Headers, InvocationId, Target, [Arguments], [StreamIds]]` (the last may be absent) |
/// | CancelInvocation | `[5, Headers, InvocationId]` |
/// | Ping | `[6]`, always the bytes `0x91 0x06` |
/// | Close | `[7, Error \| nil, AllowReconnect]` (the last may be absent) |
/// | Ack, Sequence | `[8, SequenceId]`, `[9, SequenceId]` |
///
/// Reading follows ASP.NET Core's `MessagePackHubProtocolWorker`: elements after the ones a type needs are
/// tolerated (skipped, but still checked to be well-formed and within the depth limit); 5-element Invocations
/// and StreamInvocations (signalrcore) have no stream ids; an empty invocation id on an Invocation means none;
/// an empty `Headers` map or `StreamIds` array reads as absent (nil); a missing or empty invocation id where one
/// is required, and a missing or empty target, are errors. Header entries whose key or value is not a string
/// are skipped, like the JSON protocol does (ASP.NET refuses them); a repeated key keeps its last value. Bytes
/// after the array are an error. Payload values map to ``JSONValue`` as ``MessagePackJSON`` describes.
///
/// Writing always produces the full forms (6-element invocations with `[]` stream ids, 3-element Close) in the
/// smallest MessagePack formats, headers sorted by key.
struct MessagePackHubProtocol: HubProtocol {
    /// The protocol name used in the handshake.
    static let name = "messagepack"
    /// The protocol version clients ask for.
    static let version = 1
    /// The transfer format the protocol needs (``Handshake/transferFormat(ofProtocol:)`` spells it the same).
    static let transferFormat = "Binary"

    /// A Ping, framed: `02 91 06`.
    static let pingMessage: [UInt8] = [0x02, 0x91, 0x06]

    var name: String { Self.name }
    // Like .NET 8's MessagePackHubProtocol (version 2, any version up to it accepted): 2 asks for stateful reconnect.
    var versions: ClosedRange<Int> { Int.min...2 }
    var transferFormat: TransferFormat { .binary }
    var kind: HubProtocolKind { .messagePack }
    var pingMessage: [UInt8] { Self.pingMessage }
    func makeReader(maxMessageSize: Int) -> any HubMessageReader {
        FramedMessageReader(VarIntLengthFramer(maxMessageSize: maxMessageSize)) { try Self.parse($0) }
    }
    func write(_ message: HubMessage, into out: inout [UInt8]) { Self.encode(message, into: &out) }

    private static let errorResult: Int64 = 1
    private static let voidResult: Int64 = 2
    private static let nonVoidResult: Int64 = 3

    // MARK: Parsing

    /// Parses ONE message body (without its length prefix; ``VarIntLengthFramer`` removes it).
    /// - Parameter maxDepth: deepest array/map nesting, the message's own array being level 1 and its arguments
    ///   array level 2 (64, as on the JSON side).
    /// - Throws: ``HubProtocolError`` for a message of the wrong shape (``HubProtocolError/unknownType(_:)`` for a
    ///   type id other than 1–9), ``MessagePackError`` for bytes that are not well-formed MessagePack.
    static func parse(_ body: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> HubMessage {
        var reader = MessagePackReader(body, maxDepth: maxDepth)
        guard case .array(let count) = try reader.readHeader() else {
            throw MessagePackError.unexpectedType(expected: "an array", offset: 0)
        }
        var fields = Fields(reader: reader, count: count)
        let message = try fields.message()
        try fields.skipRest()
        try fields.reader.expectEnd()
        return message
    }

    static func parse(_ body: [UInt8], maxDepth: Int = 64) throws -> HubMessage {
        try body.withUnsafeBytes { try parse($0, maxDepth: maxDepth) }
    }

    /// Reads the elements of the message array in order, counting them against the array's length.
    private struct Fields {
        var reader: MessagePackReader
        /// Elements left in the message array.
        var remaining: Int

        init(reader: MessagePackReader, count: Int) {
            self.reader = reader
            self.remaining = count
        }

        mutating func message() throws -> HubMessage {
            let type = try integer("type")
            switch type {
            case 1:
                return .invocation(try invocation(idRequired: false))
            case 2:
                _ = try headers()
                let id = try requiredId()
                try take("item")
                let item = try MessagePackJSON.readValue(&reader, depth: 2)
                return .streamItem(invocationId: id, item: item)
            case 3:
                _ = try headers()
                let id = try requiredId()
                switch try integer("resultKind") {
                case MessagePackHubProtocol.errorResult:
                    guard let error = try optionalString("error") else { throw HubProtocolError.invalidField("error") }
                    return .completion(invocationId: id, result: nil, error: error)
                case MessagePackHubProtocol.voidResult:
                    return .completion(invocationId: id, result: nil, error: nil)
                case MessagePackHubProtocol.nonVoidResult:
                    try take("result")
                    let result = try MessagePackJSON.readValue(&reader, depth: 2)
                    return .completion(invocationId: id, result: result, error: nil)
                default:
                    throw HubProtocolError.invalidField("resultKind")
                }
            case 4:
                return .streamInvocation(try invocation(idRequired: true))
            case 5:
                _ = try headers()
                return .cancelInvocation(invocationId: try requiredId())
            case 6:
                return .ping
            case 7:
                let error = try optionalString("error")
                var allowReconnect = false
                if remaining > 0 {
                    try take("allowReconnect")
                    guard case .bool(let b) = try reader.readHeader() else {
                        throw HubProtocolError.invalidField("allowReconnect")
                    }
                    allowReconnect = b
                }
                return .close(error: error, allowReconnect: allowReconnect)
            case 8:
                return .ack(sequenceId: try integer("sequenceId"))
            case 9:
                return .sequence(sequenceId: try integer("sequenceId"))
            default:
                throw HubProtocolError.unknownType(Int(type))
            }
        }

        /// Steps over the elements the message type doesn't use.
        mutating func skipRest() throws {
            while remaining > 0 {
                remaining -= 1
                try reader.skipValue(depth: 2)
            }
        }

        private mutating func invocation(idRequired: Bool) throws -> InvocationMessage {
            let headers = try headers()
            var id = try optionalString("invocationId")
            if id?.isEmpty == true { id = nil }
            if idRequired && id == nil { throw HubProtocolError.missingField("invocationId") }
            guard let target = try optionalString("target") else { throw HubProtocolError.missingField("target") }
            if target.isEmpty { throw HubProtocolError.invalidField("target") }
            try take("arguments")
            guard case .array(let count) = try reader.readHeader() else {
                throw HubProtocolError.invalidField("arguments")
            }
            try checkLevel2()
            var arguments: [JSONValue] = []
            arguments.reserveCapacity(count)
            for _ in 0..<count { arguments.append(try MessagePackJSON.readValue(&reader, depth: 3)) }
            var streamIds: [String]?
            if remaining > 0 {
                try take("streamIds")
                guard case .array(let count) = try reader.readHeader() else {
                    throw HubProtocolError.invalidField("streamIds")
                }
                try checkLevel2()
                if count > 0 {
                    var ids: [String] = []
                    ids.reserveCapacity(count)
                    for _ in 0..<count {
                        guard case .string(let range) = try reader.readHeader() else {
                            throw HubProtocolError.invalidField("streamIds")
                        }
                        ids.append(try reader.string(range))
                    }
                    streamIds = ids
                }
            }
            return InvocationMessage(
                invocationId: id, target: target, arguments: arguments, streamIds: streamIds, headers: headers)
        }

        /// Counts one more element of the message array, which must be there.
        private mutating func take(_ field: String) throws {
            guard remaining > 0 else { throw HubProtocolError.missingField(field) }
            remaining -= 1
        }

        /// An integer element that fits `Int64`.
        private mutating func integer(_ field: String) throws -> Int64 {
            try take(field)
            guard case .int(let value) = try reader.readHeader() else { throw HubProtocolError.invalidField(field) }
            return value
        }

        /// A str element, or nil for a nil element.
        private mutating func optionalString(_ field: String) throws -> String? {
            try take(field)
            switch try reader.readHeader() {
            case .nil: return nil
            case .string(let range): return try reader.string(range)
            default: throw HubProtocolError.invalidField(field)
            }
        }

        /// A non-empty invocation id.
        private mutating func requiredId() throws -> String {
            guard let id = try optionalString("invocationId") else { throw HubProtocolError.missingField("invocationId") }
            if id.isEmpty { throw HubProtocolError.invalidField("invocationId") }
            return id
        }

        /// The headers map; nil when empty. Entries that aren't string → string are skipped.
        private mutating func headers() throws -> [String: String]? {
            try take("headers")
            guard case .map(let count) = try reader.readHeader() else { throw HubProtocolError.invalidField("headers") }
            try checkLevel2()
            var headers: [String: String] = [:]
            for _ in 0..<count {
                var probe = reader
                if case .string(let keyRange) = try probe.readHeader(), case .string(let valueRange) = try probe.readHeader() {
                    headers[try probe.string(keyRange)] = try probe.string(valueRange)
                    reader = probe
                } else {
                    try reader.skipValue(depth: 3)
                    try reader.skipValue(depth: 3)
                }
            }
            return headers.isEmpty ? nil : headers
        }

        /// Headers, arguments and stream ids are containers at level 2 (inside the message's array).
        private func checkLevel2() throws {
            guard reader.maxDepth >= 2 else { throw MessagePackError.tooDeep(maxDepth: reader.maxDepth) }
        }
    }

    // MARK: Encoding

    /// Appends `message` framed: its VarInt length, then the MessagePack array.
    static func encode(_ message: HubMessage, into out: inout [UInt8]) {
        writeFramed(into: &out) { out in writeBody(message, into: &out) }
    }

    /// `encode` into a fresh buffer.
    static func encode(_ message: HubMessage) -> [UInt8] {
        var out: [UInt8] = []
        encode(message, into: &out)
        return out
    }

    /// Appends one framed message whose body `writeBody` appends: reserves room for the longest prefix, lets the
    /// body be written after it, then writes the real prefix and closes the gap (one move of the body, only when
    /// the prefix is shorter than 5 bytes).
    static func writeFramed(into out: inout [UInt8], _ writeBody: (inout [UInt8]) throws -> Void) rethrows {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 5))
        try writeBody(&out)
        let length = out.count - start - 5
        let size = VarIntLengthFramer.lengthPrefixSize(length)
        var value = UInt32(length)
        for i in 0..<size {
            out[start + i] = UInt8(truncatingIfNeeded: value & 0x7F) | (i < size - 1 ? 0x80 : 0)
            value >>= 7
        }
        if size < 5 { out.removeSubrange((start + size)..<(start + 5)) }
    }

    /// Appends the unframed array of `message`.
    static func writeBody(_ message: HubMessage, into out: inout [UInt8]) {
        switch message {
        case .invocation(let invocation):
            writeInvocation(invocation, type: 1, into: &out)
        case .streamInvocation(let invocation):
            writeInvocation(invocation, type: 4, into: &out)
        case .streamItem(let invocationId, let item):
            out.append(0x94)
            out.append(2)
            out.append(0x80)
            MessagePackWriter.writeString(invocationId, into: &out)
            MessagePackJSON.write(item, into: &out)
        case .completion(let invocationId, let result, let error):
            out.append(error == nil && result == nil ? 0x94 : 0x95)
            out.append(3)
            out.append(0x80)
            MessagePackWriter.writeString(invocationId, into: &out)
            if let error {
                MessagePackWriter.writeInt(errorResult, into: &out)
                MessagePackWriter.writeString(error, into: &out)
            } else if let result {
                MessagePackWriter.writeInt(nonVoidResult, into: &out)
                MessagePackJSON.write(result, into: &out)
            } else {
                MessagePackWriter.writeInt(voidResult, into: &out)
            }
        case .cancelInvocation(let invocationId):
            out.append(0x93)
            out.append(5)
            out.append(0x80)
            MessagePackWriter.writeString(invocationId, into: &out)
        case .ping:
            out.append(0x91)
            out.append(6)
        case .close(let error, let allowReconnect):
            out.append(0x93)
            out.append(7)
            if let error { MessagePackWriter.writeString(error, into: &out) } else { MessagePackWriter.writeNil(into: &out) }
            MessagePackWriter.writeBool(allowReconnect, into: &out)
        case .ack(let sequenceId):
            out.append(0x92)
            out.append(8)
            MessagePackWriter.writeInt(sequenceId, into: &out)
        case .sequence(let sequenceId):
            out.append(0x92)
            out.append(9)
            MessagePackWriter.writeInt(sequenceId, into: &out)
        }
    }

    /// Fast path for server→client broadcasts: a framed `[1, Headers, nil, target, [arguments], []]` whose
    /// `argumentCount` arguments `writeArguments` appends as MessagePack values (e.g. with
    /// ``MessagePackJSON/write(_:into:)``). No invocation id: broadcasts never expect an answer.
    static func encodeInvocation(
        target: String, headers: [(key: String, value: String)]?, argumentCount: Int, into out: inout [UInt8],
        writeArguments: (inout [UInt8]) throws -> Void
    ) rethrows {
        try writeFramed(into: &out) { out in
            out.append(0x96)
            out.append(1)
            writeHeaders(headers ?? [], into: &out)
            MessagePackWriter.writeNil(into: &out)
            MessagePackWriter.writeString(target, into: &out)
            MessagePackWriter.writeArrayHeader(argumentCount, into: &out)
            try writeArguments(&out)
            out.append(0x90)
        }
    }

    private static func writeInvocation(_ invocation: InvocationMessage, type: UInt8, into out: inout [UInt8]) {
        out.append(0x96)
        out.append(type)
        writeHeaders(invocation.headers.map { $0.sorted { $0.key < $1.key } } ?? [], into: &out)
        if let id = invocation.invocationId {
            MessagePackWriter.writeString(id, into: &out)
        } else {
            MessagePackWriter.writeNil(into: &out)
        }
        MessagePackWriter.writeString(invocation.target, into: &out)
        MessagePackWriter.writeArrayHeader(invocation.arguments.count, into: &out)
        for argument in invocation.arguments { MessagePackJSON.write(argument, into: &out) }
        let streamIds = invocation.streamIds ?? []
        MessagePackWriter.writeArrayHeader(streamIds.count, into: &out)
        for id in streamIds { MessagePackWriter.writeString(id, into: &out) }
    }

    private static func writeHeaders(_ headers: [(key: String, value: String)], into out: inout [UInt8]) {
        MessagePackWriter.writeMapHeader(headers.count, into: &out)
        for header in headers {
            MessagePackWriter.writeString(header.key, into: &out)
            MessagePackWriter.writeString(header.value, into: &out)
        }
    }
}
