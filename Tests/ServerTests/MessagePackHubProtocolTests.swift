import Testing

@testable import SignalRMesh

/// Bytes from a hex string ("96 01 80", spaces optional).
func hexBytes(_ hex: String) -> [UInt8] {
    let digits = hex.filter { !$0.isWhitespace }
    var out: [UInt8] = []
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        out.append(UInt8(digits[i..<j], radix: 16)!)
        i = j
    }
    return out
}

/// `body` with its VarInt length prefix.
func framed(_ body: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    VarIntLengthFramer.writeLength(body.count, into: &out)
    return out + body
}

private func parse(_ hex: String) throws -> HubMessage { try MessagePackHubProtocol.parse(hexBytes(hex)) }

/// The body `encode` writes (prefix checked and removed).
private func body(_ message: HubMessage) -> [UInt8] {
    let bytes = MessagePackHubProtocol.encode(message)
    var framer = VarIntLengthFramer(maxMessageSize: 0)
    framer.append(bytes)
    let body = try? framer.next()
    #expect(framer.bufferedCount == 0)
    return body ?? []
}

@Suite struct MessagePackHubProtocolTests {
    static let allMessages: [HubMessage] = [
        .invocation(InvocationMessage(target: "SendMessage", arguments: ["u", "hello"])),
        .invocation(InvocationMessage(invocationId: "1", target: "Add", arguments: [1, .number("2.5"), -7])),
        .invocation(
            InvocationMessage(
                invocationId: "7", target: "Upload", arguments: [["nested": [true, .null]], "é😀\n"],
                streamIds: ["s1", "s2"], headers: ["a": "1", "b": "x\"y"])),
        .invocation(InvocationMessage(target: "NoArgs", arguments: [])),
        .invocation(
            InvocationMessage(
                target: "Numbers",
                arguments: [
                    .number("9223372036854775807"), .number("-9223372036854775808"), .number("18446744073709551615"),
                    .number("0.1"), .number("-0.0"), .number("1e+20"), .number("5e-324"), .number("100.0"),
                ])),
        .streamItem(invocationId: "3", item: ["x": 1, "x": 2]),
        .streamItem(invocationId: "3", item: .null),
        .completion(invocationId: "1", result: 42, error: nil),
        .completion(invocationId: "1", result: .null, error: nil),
        .completion(invocationId: "1", result: nil, error: "boom \"quoted\""),
        .completion(invocationId: "1", result: nil, error: ""),
        .completion(invocationId: "1", result: nil, error: nil),
        .streamInvocation(InvocationMessage(invocationId: "9", target: "Counter", arguments: [10, 500])),
        .streamInvocation(InvocationMessage(invocationId: "9", target: "Echo", arguments: [], streamIds: ["a"])),
        .cancelInvocation(invocationId: "9"),
        .ping,
        .close(error: nil, allowReconnect: false),
        .close(error: nil, allowReconnect: true),
        .close(error: "Connection closed with an error.", allowReconnect: true),
        .close(error: "bye", allowReconnect: false),
        .close(error: "", allowReconnect: false),
        .ack(sequenceId: 1),
        .ack(sequenceId: Int64.max),
        .ack(sequenceId: -1),
        .sequence(sequenceId: 0),
        .sequence(sequenceId: 123_456_789_012),
    ]

    @Test(arguments: allMessages)
    func roundTrip(_ message: HubMessage) throws {
        let bytes = MessagePackHubProtocol.encode(message)
        let body = body(message)
        #expect(bytes == framed(body))
        let again = try MessagePackHubProtocol.parse(body)
        #expect(again == message)
        #expect(MessagePackHubProtocol.encode(again) == bytes)
    }

    // MARK: HubProtocol.md's MessagePack examples, byte for byte

    /// (payload from the spec, the message it means, whether `encode` writes exactly these bytes).
    static let specExamples: [(String, HubMessage, Bool)] = [
        ("96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
         .invocation(InvocationMessage(invocationId: "xyz", target: "method", arguments: [42])), true),
        ("96 01 80 c0 a6 6d 65 74 68 6f 64 91 2a 90",
         .invocation(InvocationMessage(target: "method", arguments: [42])), true),
        ("96 04 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
         .streamInvocation(InvocationMessage(invocationId: "xyz", target: "method", arguments: [42])), true),
        ("94 02 80 a3 78 79 7a 2a", .streamItem(invocationId: "xyz", item: 42), true),
        // The spec labels this one 0x94 in its walkthrough; the payload (5 elements) is right.
        ("95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72", .completion(invocationId: "xyz", result: nil, error: "Error"), true),
        ("94 03 80 a3 78 79 7a 02", .completion(invocationId: "xyz", result: nil, error: nil), true),
        ("95 03 80 a3 78 79 7a 03 2a", .completion(invocationId: "xyz", result: 42, error: nil), true),
        ("93 05 80 a3 78 79 7a", .cancelInvocation(invocationId: "xyz"), true),
        ("91 06", .ping, true),
        // Written with the third element, as ASP.NET Core does: 93 07 a3 78 79 7a c2.
        ("92 07 a3 78 79 7a", .close(error: "xyz", allowReconnect: false), false),
        ("93 07 a3 78 79 7a c3", .close(error: "xyz", allowReconnect: true), true),
        // "any unsigned int size is fine": written as positive fixints (92 08 24, 92 09 13).
        ("92 08 cc 24", .ack(sequenceId: 36), false),
        ("92 09 cc 13", .sequence(sequenceId: 19), false),
        ("96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
         .invocation(InvocationMessage(invocationId: "xyz", target: "method", arguments: [42], headers: ["x": "y", "z": "z"])),
         true),
    ]

    @Test func specExamplesParse() throws {
        for (hex, message, _) in Self.specExamples {
            #expect(try parse(hex) == message, "\(hex)")
        }
    }

    @Test func specExamplesEncode() {
        for (hex, message, exact) in Self.specExamples where exact {
            #expect(MessagePackHubProtocol.encode(message) == framed(hexBytes(hex)), "\(hex)")
        }
        #expect(body(.close(error: "xyz", allowReconnect: false)) == hexBytes("93 07 a3 78 79 7a c2"))
        #expect(body(.close(error: nil, allowReconnect: false)) == hexBytes("93 07 c0 c2"))
        #expect(body(.ack(sequenceId: 36)) == hexBytes("92 08 24"))
        #expect(body(.sequence(sequenceId: 19)) == hexBytes("92 09 13"))
        #expect(body(.ack(sequenceId: 1394)) == hexBytes("92 08 cd 05 72"))
    }

    @Test func pingIsExactly0x91_0x06() {
        #expect(MessagePackHubProtocol.pingMessage == [0x02, 0x91, 0x06])
        #expect(MessagePackHubProtocol.encode(.ping) == MessagePackHubProtocol.pingMessage)
        #expect(MessagePackHubProtocol.name == "messagepack")
        #expect(MessagePackHubProtocol.version == 1)
        #expect(MessagePackHubProtocol.transferFormat == Handshake.transferFormat(ofProtocol: "messagepack"))
    }

    @Test func encodeAppendsToExistingBytes() {
        var out: [UInt8] = [0x41]
        MessagePackHubProtocol.encode(.ping, into: &out)
        MessagePackHubProtocol.encode(.ack(sequenceId: 1), into: &out)
        #expect(out == [0x41, 0x02, 0x91, 0x06, 0x03, 0x92, 0x08, 0x01])
    }

    @Test func lengthPrefixSizes() throws {
        // Bodies of 127/128 and 16383/16384 bytes need 1/2 and 2/3 prefix bytes.
        for (length, prefix) in [(127, [0x7F]), (128, [0x80, 0x01]), (16383, [0xFF, 0x7F]), (16384, [0x80, 0x80, 0x01])] {
            var out: [UInt8] = [0xEE]
            MessagePackHubProtocol.writeFramed(into: &out) { $0.append(contentsOf: repeatElement(0xAB, count: length)) }
            #expect(Array(out[1..<(1 + prefix.count)]) == prefix.map(UInt8.init))
            #expect(out.count == 1 + prefix.count + length)
            #expect(out.first == 0xEE && out.last == 0xAB)
        }
        // A string argument long enough to need a 3-byte prefix round-trips.
        let long = HubMessage.streamItem(invocationId: "1", item: .string(String(repeating: "x", count: 70_000)))
        let bytes = MessagePackHubProtocol.encode(long)
        #expect(Array(bytes.prefix(3)) == [0xFA, 0xA2, 0x04])  // 70_000 + 10 = 70_010 = 0x1117A
        #expect(try MessagePackHubProtocol.parse(Array(bytes.dropFirst(3))) == long)
    }

    @Test func broadcastFastPath() throws {
        var out: [UInt8] = []
        MessagePackHubProtocol.encodeInvocation(target: "ReceiveMessage", headers: nil, argumentCount: 2, into: &out) {
            MessagePackJSON.write("bob", into: &$0)
            MessagePackJSON.write(["n": [1, 2]], into: &$0)
        }
        let expected = HubMessage.invocation(InvocationMessage(target: "ReceiveMessage", arguments: ["bob", ["n": [1, 2]]]))
        #expect(out == MessagePackHubProtocol.encode(expected))
        out.removeAll()
        MessagePackHubProtocol.encodeInvocation(target: "T", headers: [("k", "v")], argumentCount: 0, into: &out) { _ in }
        #expect(out == MessagePackHubProtocol.encode(.invocation(InvocationMessage(target: "T", arguments: [], headers: ["k": "v"]))))
    }

    // MARK: What real clients send, and what ASP.NET Core tolerates

    @Test func fiveElementInvocationsHaveNoStreamIds() throws {
        // signalrcore: [1, headers, id, target, args].
        #expect(
            try parse("95 01 81 a1 61 a1 62 a1 31 a4 53 65 6e 64 92 a1 75 a2 68 69")
                == .invocation(InvocationMessage(invocationId: "1", target: "Send", arguments: ["u", "hi"], headers: ["a": "b"])))
        #expect(
            try parse("95 04 80 a1 31 a4 53 65 6e 64 90")
                == .streamInvocation(InvocationMessage(invocationId: "1", target: "Send", arguments: [])))
    }

    @Test func emptyContainersReadAsAbsent() throws {
        // An empty invocation id means non-blocking; empty stream ids and headers are nil (as in ASP.NET Core).
        #expect(
            try parse("96 01 80 a0 a1 4d 90 90") == .invocation(InvocationMessage(invocationId: nil, target: "M", arguments: [])))
        // So `headers: [:]` and `streamIds: []` are written as {} and [] and read back as nil.
        let m = HubMessage.invocation(InvocationMessage(target: "M", arguments: [], streamIds: [], headers: [:]))
        #expect(body(m) == hexBytes("96 01 80 c0 a1 4d 90 90"))
    }

    @Test func extraTrailingElementsAreTolerated() throws {
        #expect(try parse("92 06 80") == .ping)
        #expect(try parse("95 05 80 a1 78 01 92 c3 a0") == .cancelInvocation(invocationId: "x"))
        #expect(try parse("95 02 80 a1 78 2a c0") == .streamItem(invocationId: "x", item: 42))
        #expect(try parse("95 03 80 a1 78 02 2a") == .completion(invocationId: "x", result: nil, error: nil))
        #expect(try parse("94 07 c0 c3 01") == .close(error: nil, allowReconnect: true))
        #expect(try parse("93 08 05 81 a1 6b 90") == .ack(sequenceId: 5))
        #expect(
            try parse("97 01 80 c0 a1 4d 90 91 a1 73 d4 01 00")
                == .invocation(InvocationMessage(target: "M", arguments: [], streamIds: ["s"])))
    }

    @Test func headers() throws {
        // Non-string entries are skipped (like the JSON protocol); a repeated key keeps its last value.
        let m = try parse("96 01 84 a1 61 01 05 a1 62 a1 6b a1 31 a1 6b a1 32 c0 a1 4d 90 90")
        #expect(m == .invocation(InvocationMessage(target: "M", arguments: [], headers: ["k": "2"])))
        // A skipped entry may hold containers.
        #expect(
            try parse("96 01 82 a1 61 92 01 81 a1 62 c0 a1 6b a1 76 c0 a1 4d 90 90")
                == .invocation(InvocationMessage(target: "M", arguments: [], headers: ["k": "v"])))
        // Headers on other messages are read and dropped.
        #expect(try parse("94 02 81 a1 61 a1 62 a1 78 c0") == .streamItem(invocationId: "x", item: .null))
        // Headers must be a map.
        #expect(throws: HubProtocolError.invalidField("headers")) { try parse("94 02 c0 a1 78 c0") }
        #expect(throws: HubProtocolError.invalidField("headers")) { try parse("94 02 90 a1 78 c0") }
    }

    // MARK: Errors

    @Test func messageShapeErrors() {
        #expect(throws: MessagePackError.truncated(offset: 0)) { try parse("") }
        #expect(throws: MessagePackError.unexpectedType(expected: "an array", offset: 0)) { try parse("81 a1 61 01") }
        #expect(throws: HubProtocolError.missingField("type")) { try parse("90") }
        #expect(throws: HubProtocolError.invalidField("type")) { try parse("91 a1 31") }
        #expect(throws: HubProtocolError.invalidField("type")) { try parse("91 cb 3f f0 00 00 00 00 00 00") }
        #expect(throws: HubProtocolError.invalidField("type")) { try parse("91 cf ff ff ff ff ff ff ff ff") }
        #expect(throws: HubProtocolError.unknownType(10)) { try parse("91 0a") }
        #expect(throws: HubProtocolError.unknownType(0)) { try parse("91 00") }
        #expect(throws: HubProtocolError.unknownType(-1)) { try parse("91 ff") }
        // Bytes after the array.
        #expect(throws: MessagePackError.trailingBytes(offset: 2)) { try parse("91 06 00") }
    }

    @Test func invocationErrors() {
        #expect(throws: HubProtocolError.missingField("headers")) { try parse("91 01") }
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse("92 01 80") }
        #expect(throws: HubProtocolError.missingField("target")) { try parse("93 01 80 c0") }
        #expect(throws: HubProtocolError.missingField("target")) { try parse("95 01 80 c0 c0 90") }
        #expect(throws: HubProtocolError.invalidField("target")) { try parse("95 01 80 c0 a0 90") }
        #expect(throws: HubProtocolError.invalidField("target")) { try parse("95 01 80 c0 01 90") }
        #expect(throws: HubProtocolError.invalidField("invocationId")) { try parse("95 01 80 01 a1 4d 90") }
        #expect(throws: HubProtocolError.missingField("arguments")) { try parse("94 01 80 c0 a1 4d") }
        #expect(throws: HubProtocolError.invalidField("arguments")) { try parse("95 01 80 c0 a1 4d c0") }
        #expect(throws: HubProtocolError.invalidField("streamIds")) { try parse("96 01 80 c0 a1 4d 90 c0") }
        #expect(throws: HubProtocolError.invalidField("streamIds")) { try parse("96 01 80 c0 a1 4d 90 91 01") }
        // A stream invocation needs a (non-empty) id.
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse("96 04 80 c0 a1 4d 90 90") }
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse("96 04 80 a0 a1 4d 90 90") }
        // Invalid UTF-8 in the target.
        #expect(throws: MessagePackError.invalidUTF8(offset: 5)) { try parse("95 01 80 c0 a2 c3 28 90") }
        // An argument the JSON model can't hold.
        #expect(throws: MessagePackError.unsupportedExtension(type: -1, offset: 7)) {
            try parse("95 01 80 c0 a1 4d 91 d6 ff 00 00 00 01")
        }
        #expect(throws: MessagePackError.nonStringKey(offset: 8)) { try parse("95 01 80 c0 a1 4d 91 81 01 02") }
    }

    @Test func otherMessageErrors() throws {
        #expect(throws: HubProtocolError.missingField("item")) { try parse("93 02 80 a1 78") }
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse("94 02 80 c0 01") }
        #expect(throws: HubProtocolError.invalidField("invocationId")) { try parse("94 02 80 a0 01") }
        #expect(throws: HubProtocolError.missingField("resultKind")) { try parse("93 03 80 a1 78") }
        #expect(throws: HubProtocolError.invalidField("resultKind")) { try parse("94 03 80 a1 78 04") }
        #expect(throws: HubProtocolError.invalidField("resultKind")) { try parse("94 03 80 a1 78 00") }
        #expect(throws: HubProtocolError.missingField("result")) { try parse("94 03 80 a1 78 03") }
        #expect(throws: HubProtocolError.missingField("error")) { try parse("94 03 80 a1 78 01") }
        #expect(throws: HubProtocolError.invalidField("error")) { try parse("95 03 80 a1 78 01 c0") }
        #expect(throws: HubProtocolError.invalidField("error")) { try parse("95 03 80 a1 78 01 2a") }
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse("92 05 80") }
        #expect(throws: HubProtocolError.missingField("error")) { try parse("91 07") }
        #expect(throws: HubProtocolError.invalidField("error")) { try parse("92 07 01") }
        #expect(throws: HubProtocolError.invalidField("allowReconnect")) { try parse("93 07 c0 c0") }
        #expect(throws: HubProtocolError.invalidField("allowReconnect")) { try parse("93 07 c0 01") }
        #expect(throws: HubProtocolError.missingField("sequenceId")) { try parse("91 08") }
        #expect(throws: HubProtocolError.invalidField("sequenceId")) { try parse("92 09 a1 31") }
        #expect(throws: HubProtocolError.invalidField("sequenceId")) { try parse("92 09 cf 80 00 00 00 00 00 00 00") }
        #expect(try parse("92 09 cf 7f ff ff ff ff ff ff ff") == .sequence(sequenceId: Int64.max))
        #expect(try parse("92 08 d3 80 00 00 00 00 00 00 00") == .ack(sequenceId: Int64.min))
    }

    @Test func nestingLimitCountsTheEnvelope() throws {
        // Message array = level 1, arguments = level 2, so 62 more levels reach the limit of 64.
        func message(_ levels: Int) -> [UInt8] {
            hexBytes("95 01 80 c0 a1 4d 91") + [UInt8](repeating: 0x91, count: levels - 1) + [0x90]
        }
        #expect(throws: Never.self) { try MessagePackHubProtocol.parse(message(62)) }
        #expect(throws: MessagePackError.tooDeep(maxDepth: 64)) { try MessagePackHubProtocol.parse(message(63)) }
        // Also inside skipped trailing elements, and with maps.
        let skipped = hexBytes("92 06") + [UInt8](repeating: 0x91, count: 63) + [0x90]
        #expect(throws: MessagePackError.tooDeep(maxDepth: 64)) { try MessagePackHubProtocol.parse(skipped) }
        func maps(_ levels: Int) -> [UInt8] {
            hexBytes("94 02 80 a1 78") + Array(repeating: hexBytes("81 a1 6b"), count: levels).flatMap { $0 } + [0xC0]
        }
        #expect(throws: Never.self) { try MessagePackHubProtocol.parse(maps(63)) }
        #expect(throws: MessagePackError.tooDeep(maxDepth: 64)) { try MessagePackHubProtocol.parse(maps(64)) }
        // A smaller limit.
        #expect(throws: MessagePackError.tooDeep(maxDepth: 3)) { try MessagePackHubProtocol.parse(message(2), maxDepth: 3) }
        #expect(
            try MessagePackHubProtocol.parse(message(1), maxDepth: 3)
                == .invocation(InvocationMessage(target: "M", arguments: [[]])))
    }

    @Test func everyTruncationIsAnError() {
        for (hex, _, _) in Self.specExamples {
            let bytes = hexBytes(hex)
            for n in 0..<bytes.count {
                #expect(throws: (any Error).self, "\(hex) cut to \(n)") { try MessagePackHubProtocol.parse(Array(bytes[..<n])) }
            }
        }
        for message in Self.allMessages {
            let bytes = body(message)
            for n in 0..<bytes.count {
                #expect(throws: (any Error).self) { try MessagePackHubProtocol.parse(Array(bytes[..<n])) }
            }
        }
    }

    @Test func randomBytesNeverTrap() throws {
        // A fixed xorshift stream: bodies of 0–40 bytes, biased towards hub-message starts.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        var parsed = 0
        for _ in 0..<50_000 {
            let count = Int(next() % 41)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
            if count >= 2 && next() % 2 == 0 {
                bytes[0] = 0x90 | UInt8(next() % 7)
                bytes[1] = UInt8(next() % 10)
            }
            if let message = try? MessagePackHubProtocol.parse(bytes) {
                parsed += 1
                #expect(try MessagePackHubProtocol.parse(body(message)) == message)
            }
        }
        #expect(parsed > 0)
    }

    @Test func errorTexts() {
        #expect(MessagePackError.truncated(offset: 3).description == "MessagePack value at byte 3 runs past the end of the message")
        #expect(MessagePackError.invalidFormat(offset: 0).description == "invalid MessagePack format byte 0xC1 at byte 0")
        #expect(MessagePackError.tooDeep(maxDepth: 64).description == "MessagePack nested deeper than 64 levels")
        #expect(LengthPrefixError.invalidLengthPrefix.description.contains("length prefix"))
    }
}
