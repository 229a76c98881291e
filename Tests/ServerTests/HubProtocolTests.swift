import Testing

@testable import SignalRMesh

private let RS: UInt8 = 0x1E

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

private func encoded(_ message: HubMessage) -> String { text(JSONHubProtocol.encode(message)) }

private func parse(_ json: String) throws -> HubMessage { try JSONHubProtocol.parse(Array(json.utf8)) }

/// Feeds `chunks` to a framer and collects every message it returns.
private func frameAll(_ chunks: [[UInt8]], maxMessageSize: Int = 32 * 1024) throws -> [[UInt8]] {
    var framer = RecordSeparatorFramer(maxMessageSize: maxMessageSize)
    var messages: [[UInt8]] = []
    for chunk in chunks {
        framer.append(chunk)
        while let message = try framer.next() { messages.append(message) }
    }
    return messages
}

// MARK: - Hub messages

@Suite struct JSONHubProtocolTests {
    static let allMessages: [HubMessage] = [
        .invocation(InvocationMessage(target: "SendMessage", arguments: ["u", "hello"])),
        .invocation(InvocationMessage(invocationId: "1", target: "Add", arguments: [1, .number("2.5")])),
        .invocation(
            InvocationMessage(
                invocationId: "7", target: "Upload", arguments: [["nested": [true, .null]], "é😀\n"],
                streamIds: ["s1", "s2"], headers: ["a": "1", "b": "x\"y"])),
        .invocation(InvocationMessage(target: "NoArgs", arguments: [], streamIds: [], headers: [:])),
        .streamItem(invocationId: "3", item: ["x": 1]),
        .streamItem(invocationId: "3", item: .null),
        .completion(invocationId: "1", result: 42, error: nil),
        .completion(invocationId: "1", result: .null, error: nil),
        .completion(invocationId: "1", result: nil, error: "boom \"quoted\""),
        .completion(invocationId: "1", result: nil, error: nil),
        .streamInvocation(InvocationMessage(invocationId: "9", target: "Counter", arguments: [10, 500])),
        .streamInvocation(InvocationMessage(invocationId: "9", target: "Echo", arguments: [], streamIds: ["a"])),
        .cancelInvocation(invocationId: "9"),
        .ping,
        .close(error: nil, allowReconnect: false),
        .close(error: nil, allowReconnect: true),
        .close(error: "Connection closed with an error.", allowReconnect: true),
        .close(error: "bye", allowReconnect: false),
        .ack(sequenceId: 1),
        .ack(sequenceId: Int64.max),
        .sequence(sequenceId: 0),
        .sequence(sequenceId: 123_456_789_012),
    ]

    @Test(arguments: allMessages)
    func roundTrip(_ message: HubMessage) throws {
        let bytes = JSONHubProtocol.encode(message)
        #expect(bytes.last == RS)
        #expect(bytes.dropLast().contains(RS) == false)
        #expect(try JSONHubProtocol.parse(Array(bytes.dropLast())) == message)
    }

    @Test func exactEncodings() {
        #expect(JSONHubProtocol.pingMessage == Array("{\"type\":6}".utf8) + [RS])
        #expect(encoded(.ping) == "{\"type\":6}\u{1E}")
        #expect(encoded(.close(error: nil, allowReconnect: false)) == "{\"type\":7}\u{1E}")
        #expect(
            encoded(.close(error: HubErrors.closedWithError, allowReconnect: true))
                == "{\"type\":7,\"error\":\"Connection closed with an error.\",\"allowReconnect\":true}\u{1E}")
        #expect(encoded(.close(error: nil, allowReconnect: true)) == "{\"type\":7,\"allowReconnect\":true}\u{1E}")
        #expect(encoded(.completion(invocationId: "1", result: nil, error: nil)) == "{\"type\":3,\"invocationId\":\"1\"}\u{1E}")
        #expect(
            encoded(.completion(invocationId: "1", result: .null, error: nil))
                == "{\"type\":3,\"invocationId\":\"1\",\"result\":null}\u{1E}")
        #expect(
            encoded(.completion(invocationId: "1", result: nil, error: "e"))
                == "{\"type\":3,\"invocationId\":\"1\",\"error\":\"e\"}\u{1E}")
        #expect(
            encoded(.invocation(InvocationMessage(target: "ReceiveMessage", arguments: ["u", "hi"])))
                == "{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[\"u\",\"hi\"]}\u{1E}")
        #expect(
            encoded(.invocation(InvocationMessage(invocationId: "5", target: "T", arguments: [true, 1], streamIds: ["1"])))
                == "{\"type\":1,\"invocationId\":\"5\",\"target\":\"T\",\"arguments\":[true,1],\"streamIds\":[\"1\"]}\u{1E}")
        #expect(encoded(.streamItem(invocationId: "2", item: 5)) == "{\"type\":2,\"invocationId\":\"2\",\"item\":5}\u{1E}")
        #expect(encoded(.cancelInvocation(invocationId: "2")) == "{\"type\":5,\"invocationId\":\"2\"}\u{1E}")
        #expect(encoded(.ack(sequenceId: 12)) == "{\"type\":8,\"sequenceId\":12}\u{1E}")
        #expect(encoded(.sequence(sequenceId: 3)) == "{\"type\":9,\"sequenceId\":3}\u{1E}")
    }

    @Test func broadcastFastPath() throws {
        var out: [UInt8] = []
        JSONHubProtocol.encodeInvocation(target: "ReceiveMessage", headers: nil, into: &out) {
            $0.append(contentsOf: Array("\"bob\",{\"n\":[1,2]}".utf8))
        }
        #expect(text(out) == "{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[\"bob\",{\"n\":[1,2]}]}\u{1E}")
        #expect(
            try JSONHubProtocol.parse(Array(out.dropLast()))
                == .invocation(InvocationMessage(target: "ReceiveMessage", arguments: ["bob", ["n": [1, 2]]])))

        out.removeAll()
        JSONHubProtocol.encodeInvocation(target: "T\"", headers: [("k", "v")], into: &out) { _ in }
        #expect(text(out) == "{\"type\":1,\"headers\":{\"k\":\"v\"},\"target\":\"T\\\"\",\"arguments\":[]}\u{1E}")
        #expect(
            try JSONHubProtocol.parse(Array(out.dropLast()))
                == .invocation(InvocationMessage(target: "T\"", arguments: [], headers: ["k": "v"])))
    }

    @Test func encodeAppendsToExistingBytes() {
        var out: [UInt8] = [0x41]
        JSONHubProtocol.encode(.ping, into: &out)
        JSONHubProtocol.encode(.ping, into: &out)
        #expect(text(out) == "A{\"type\":6}\u{1E}{\"type\":6}\u{1E}")
    }

    // MARK: What real clients send

    @Test func jsClientInvocation() throws {
        let m = try parse(#"{"arguments":["u","hi"],"invocationId":"0","streamIds":[],"target":"SendMessage","type":1}"#)
        #expect(m == .invocation(InvocationMessage(invocationId: "0", target: "SendMessage", arguments: ["u", "hi"], streamIds: [])))
    }

    @Test func signalrcoreInvocationWithArbitraryHeaders() throws {
        let json = """
            {"type": 1, "headers": {"User-Agent": "Python", "Count": 5, "Nothing": null, "Nested": {"a": [1]}, "Ok": "yes"},
             "target": "SendMessage", "arguments": ["u", "hello"], "invocationId": "2f1c"}
            """
        let m = try parse(json)
        #expect(
            m == .invocation(
                InvocationMessage(
                    invocationId: "2f1c", target: "SendMessage", arguments: ["u", "hello"],
                    headers: ["User-Agent": "Python", "Ok": "yes"])))
    }

    @Test func memberOrderWhitespaceAndUnknownMembers() throws {
        let expected = HubMessage.invocation(InvocationMessage(target: "M", arguments: [1]))
        #expect(try parse(#"{"target":"M","arguments":[1],"type":1}"#) == expected)
        #expect(try parse("\n { \"type\" : 1 ,\t\"target\" : \"M\" , \"arguments\" : [ 1 ] } \r\n") == expected)
        #expect(try parse(#"{"type":1,"x":{"deep":[1,{"y":"z"}]},"target":"M","arguments":[1],"future":true}"#) == expected)
        #expect(try parse(#"{"type":1,"target":"M","arguments":[1],"invocationId":null,"streamIds":null,"headers":null}"#) == expected)
        // Escaped property names name the same property.
        #expect(try parse(#"{"t\u0079pe":1,"target":"M","arguments":[1]}"#) == expected)
        // Repeated properties: the last wins.
        #expect(try parse(#"{"type":2,"type":1,"target":"X","target":"M","arguments":[1]}"#) == expected)
    }

    @Test func propertyNamesAreCaseSensitive() {
        #expect(throws: HubProtocolError.missingField("type")) { try parse(#"{"Type":1,"target":"M","arguments":[]}"#) }
        #expect(throws: HubProtocolError.missingField("target")) { try parse(#"{"type":1,"Target":"M","arguments":[]}"#) }
    }

    @Test func trueAndOneStayDistinctInArguments() throws {
        guard case .invocation(let inv) = try parse(#"{"type":1,"target":"M","arguments":[true,1,"1",1.0,null]}"#) else {
            Issue.record("not an invocation")
            return
        }
        #expect(inv.arguments == [.bool(true), .number("1"), .string("1"), .number("1.0"), .null])
    }

    @Test func typeErrors() {
        #expect(throws: HubProtocolError.missingField("type")) { try parse("{}") }
        #expect(throws: HubProtocolError.missingField("type")) { try parse(#"{"target":"M","arguments":[]}"#) }
        #expect(throws: HubProtocolError.invalidField("type")) { try parse(#"{"type":"1"}"#) }
        #expect(throws: HubProtocolError.invalidField("type")) { try parse(#"{"type":1.0}"#) }
        #expect(throws: HubProtocolError.invalidField("type")) { try parse(#"{"type":true}"#) }
        #expect(throws: HubProtocolError.invalidField("type")) { try parse(#"{"type":null}"#) }
        #expect(throws: HubProtocolError.invalidField("type")) { try parse(#"{"type":99999999999999999999}"#) }
        #expect(throws: HubProtocolError.unknownType(0)) { try parse(#"{"type":0}"#) }
        #expect(throws: HubProtocolError.unknownType(10)) { try parse(#"{"type":10}"#) }
        #expect(throws: HubProtocolError.unknownType(-1)) { try parse(#"{"type":-1}"#) }
    }

    @Test func invocationErrors() {
        #expect(throws: HubProtocolError.missingField("arguments")) { try parse(#"{"type":1,"target":"M"}"#) }
        #expect(throws: HubProtocolError.missingField("target")) { try parse(#"{"type":1,"arguments":[]}"#) }
        #expect(throws: HubProtocolError.missingField("target")) { try parse(#"{"type":1,"target":null,"arguments":[]}"#) }
        #expect(throws: HubProtocolError.invalidField("target")) { try parse(#"{"type":1,"target":5,"arguments":[]}"#) }
        #expect(throws: HubProtocolError.invalidField("arguments")) { try parse(#"{"type":1,"target":"M","arguments":{}}"#) }
        #expect(throws: HubProtocolError.invalidField("arguments")) { try parse(#"{"type":1,"target":"M","arguments":null}"#) }
        #expect(throws: HubProtocolError.invalidField("invocationId")) {
            try parse(#"{"type":1,"invocationId":1,"target":"M","arguments":[]}"#)
        }
        #expect(throws: HubProtocolError.invalidField("streamIds")) {
            try parse(#"{"type":1,"target":"M","arguments":[],"streamIds":[1]}"#)
        }
        #expect(throws: HubProtocolError.invalidField("streamIds")) {
            try parse(#"{"type":1,"target":"M","arguments":[],"streamIds":"1"}"#)
        }
        #expect(throws: HubProtocolError.invalidField("headers")) {
            try parse(#"{"type":1,"target":"M","arguments":[],"headers":[]}"#)
        }
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse(#"{"type":4,"target":"M","arguments":[]}"#) }
        #expect(throws: HubProtocolError.missingField("invocationId")) {
            try parse(#"{"type":4,"invocationId":null,"target":"M","arguments":[]}"#)
        }
    }

    @Test func otherMessageErrors() {
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse(#"{"type":2,"item":1}"#) }
        #expect(throws: HubProtocolError.missingField("item")) { try parse(#"{"type":2,"invocationId":"1"}"#) }
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse(#"{"type":3}"#) }
        #expect(throws: HubProtocolError.invalidField("result")) {
            try parse(#"{"type":3,"invocationId":"1","result":1,"error":"e"}"#)
        }
        #expect(throws: HubProtocolError.invalidField("result")) {
            try parse(#"{"type":3,"invocationId":"1","error":"e","result":null}"#)
        }
        #expect(throws: HubProtocolError.invalidField("error")) { try parse(#"{"type":3,"invocationId":"1","error":5}"#) }
        #expect(throws: HubProtocolError.missingField("invocationId")) { try parse(#"{"type":5}"#) }
        #expect(throws: HubProtocolError.invalidField("allowReconnect")) { try parse(#"{"type":7,"allowReconnect":"yes"}"#) }
        #expect(throws: HubProtocolError.invalidField("allowReconnect")) { try parse(#"{"type":7,"allowReconnect":1}"#) }
        #expect(throws: HubProtocolError.missingField("sequenceId")) { try parse(#"{"type":8}"#) }
        #expect(throws: HubProtocolError.missingField("sequenceId")) { try parse(#"{"type":9}"#) }
        #expect(throws: HubProtocolError.invalidField("sequenceId")) { try parse(#"{"type":8,"sequenceId":"5"}"#) }
        #expect(throws: HubProtocolError.invalidField("sequenceId")) { try parse(#"{"type":9,"sequenceId":1.5}"#) }
    }

    @Test func lenientButCorrectReads() throws {
        // `error: null` is no error; `result: null` is a result.
        #expect(try parse(#"{"type":3,"invocationId":"1","error":null,"result":7}"#) == .completion(invocationId: "1", result: 7, error: nil))
        #expect(try parse(#"{"type":3,"invocationId":"1","result":null}"#) == .completion(invocationId: "1", result: .null, error: nil))
        #expect(try parse(#"{"type":3,"invocationId":"1"}"#) == .completion(invocationId: "1", result: nil, error: nil))
        #expect(try parse(#"{"type":7,"error":null,"allowReconnect":null}"#) == .close(error: nil, allowReconnect: false))
        #expect(try parse(#"{"type":7,"allowReconnect":false}"#) == .close(error: nil, allowReconnect: false))
        #expect(try parse(#"{"type":6,"target":"ignored","arguments":[]}"#) == .ping)
        #expect(try parse(#"{"type":2,"invocationId":"1","item":null}"#) == .streamItem(invocationId: "1", item: .null))
        #expect(try parse(#"{"type":8,"sequenceId":-0}"#) == .ack(sequenceId: 0))
    }

    @Test func notAHubMessage() {
        for json in ["", "   ", "[]", "1", "\"x\"", "null", "{", "{\"type\":6", "{\"type\":6}}", "{\"type\":6} x",
            "{\"type\":6,}", "{type:6}"]
        {
            #expect(throws: HubProtocolError.self, "\(json.debugDescription)") { try parse(json) }
            do {
                _ = try parse(json)
            } catch let error as HubProtocolError {
                guard case .invalidJSON = error else {
                    Issue.record("\(json.debugDescription) gave \(error)")
                    continue
                }
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func nestingLimitCountsTheEnvelope() throws {
        // Envelope = depth 1, arguments array = depth 2, so 62 more levels reach the limit of 64.
        func message(_ levels: Int) -> String {
            #"{"type":1,"target":"M","arguments":["# + String(repeating: "[", count: levels)
                + String(repeating: "]", count: levels) + "]}"
        }
        #expect(throws: Never.self) { try parse(message(62)) }
        #expect(throws: HubProtocolError.invalidJSON(JSONError.tooDeep.description)) { try parse(message(63)) }
        // Also inside skipped members.
        let skipped = #"{"type":6,"x":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "}"
        #expect(throws: HubProtocolError.invalidJSON(JSONError.tooDeep.description)) { try parse(skipped) }
    }

    @Test func escapesInHubStrings() throws {
        let m = try parse(#"{"type":1,"target":"Say\u0048i","arguments":["line\nbreak \ud83d\ude00"]}"#)
        #expect(m == .invocation(InvocationMessage(target: "SayHi", arguments: ["line\nbreak 😀"])))
    }
}

// MARK: - Framing

@Suite struct RecordSeparatorFramerTests {
    /// A realistic stream: handshake, then several messages, one of them empty, with multibyte text.
    static let stream: [UInt8] = {
        var out: [UInt8] = Array("{\"protocol\":\"json\",\"version\":1}".utf8) + [RS]
        for message in JSONHubProtocolTests.allMessages { JSONHubProtocol.encode(message, into: &out) }
        out += [RS]  // an empty message
        JSONHubProtocol.encode(.invocation(InvocationMessage(target: "é", arguments: ["😀"])), into: &out)
        return out
    }()

    static let expected: [[UInt8]] = stream.split(separator: RS, omittingEmptySubsequences: false).dropLast().map(Array.init)

    @Test func wholeStream() throws {
        let messages = try frameAll([Self.stream])
        #expect(messages == Self.expected)
        #expect(messages.count == JSONHubProtocolTests.allMessages.count + 3)
        #expect(messages.last.map(text) == "{\"type\":1,\"target\":\"é\",\"arguments\":[\"😀\"]}")
    }

    @Test func splitAtEveryBytePosition() throws {
        let stream = Self.stream
        for cut in 0...stream.count {
            let messages = try frameAll([Array(stream[..<cut]), Array(stream[cut...])])
            #expect(messages == Self.expected, "split at \(cut)")
            if messages != Self.expected { break }
        }
    }

    @Test func splitAtEveryPairOfPositions() throws {
        // Three chunks, every pair of cut points over a shorter stream.
        let stream = Array(Self.stream.prefix(200))
        let expected = stream.split(separator: RS, omittingEmptySubsequences: false).dropLast().map(Array.init)
        for a in 0...stream.count {
            for b in a...stream.count {
                let messages = try frameAll([Array(stream[..<a]), Array(stream[a..<b]), Array(stream[b...])])
                guard messages == expected else {
                    Issue.record("split at \(a), \(b)")
                    return
                }
            }
        }
    }

    @Test func oneByteAtATime() throws {
        let messages = try frameAll(Self.stream.map { [$0] })
        #expect(messages == Self.expected)
        // And each message parses to the same thing as when unsplit.
        let parsedWhole = try Self.expected.dropFirst().filter { !$0.isEmpty }.map { try JSONHubProtocol.parse($0) }
        let parsedSplit = try messages.dropFirst().filter { !$0.isEmpty }.map { try JSONHubProtocol.parse($0) }
        #expect(parsedSplit == parsedWhole)
        #expect(Array(parsedWhole.prefix(JSONHubProtocolTests.allMessages.count)) == JSONHubProtocolTests.allMessages)
    }

    @Test func sizeLimitExactlyAtMax() throws {
        let max = 10
        let atMax = [UInt8](repeating: 0x61, count: max)
        #expect(try frameAll([atMax + [RS]], maxMessageSize: max) == [atMax])
        #expect(try frameAll(atMax.map { [$0] } + [[RS]], maxMessageSize: max) == [atMax])
        // Unterminated but not over the limit: keep waiting.
        var framer = RecordSeparatorFramer(maxMessageSize: max)
        framer.append(atMax)
        #expect(try framer.next() == nil)
        #expect(framer.bufferedCount == max)
        framer.append([RS])
        #expect(try framer.next() == atMax)
        #expect(framer.bufferedCount == 0)
    }

    @Test func sizeLimitAtMaxPlusOne() throws {
        let max = 10
        let over = [UInt8](repeating: 0x61, count: max + 1)
        // A complete oversize message.
        #expect(throws: FramerError.messageTooLarge) { try frameAll([over + [RS]], maxMessageSize: max) }
        // Oversize before any separator arrives: detected as soon as the 11th byte is buffered.
        var framer = RecordSeparatorFramer(maxMessageSize: max)
        for byte in over.dropLast() {
            framer.append([byte])
            #expect(try framer.next() == nil)
        }
        framer.append([0x61])
        #expect(throws: FramerError.messageTooLarge) { try framer.next() }
        // The framer stays failed.
        framer.append([RS])
        #expect(throws: FramerError.messageTooLarge) { try framer.next() }
        // A good message ahead of the oversize one is still delivered first.
        var f2 = RecordSeparatorFramer(maxMessageSize: max)
        f2.append(Array("ok".utf8) + [RS] + over)
        #expect(try f2.next() == Array("ok".utf8))
        #expect(throws: FramerError.messageTooLarge) { try f2.next() }
    }

    @Test func unlimited() throws {
        let big = [UInt8](repeating: 0x61, count: 100_000)
        #expect(try frameAll([big, [RS]], maxMessageSize: 0) == [big])
    }

    @Test func defaultLimitIs32KiB() throws {
        #expect(RecordSeparatorFramer().maxMessageSize == 32_768)
        #expect(try frameAll([[UInt8](repeating: 0x20, count: 32_768) + [RS]]).count == 1)
        #expect(throws: FramerError.messageTooLarge) { try frameAll([[UInt8](repeating: 0x20, count: 32_769)]) }
    }

    @Test func bufferIsReusedAcrossManyMessages() throws {
        var framer = RecordSeparatorFramer(maxMessageSize: 64)
        let message = Array("{\"type\":6}".utf8) + [RS]
        for _ in 0..<10_000 {
            framer.append(message + message)
            #expect(try framer.next() != nil)
            #expect(try framer.next() != nil)
            #expect(try framer.next() == nil)
        }
        #expect(framer.bufferedCount == 0)
        // A message split across compaction points.
        framer.append(Array(message.prefix(4)))
        #expect(try framer.next() == nil)
        framer.append(Array(message.dropFirst(4)))
        #expect(try framer.next() == Array(message.dropLast()))
    }

    @Test func appendingBeforeDrainingKeepsPendingMessages() throws {
        // The caller may append while complete messages are still waiting (compaction must not lose them).
        var framer = RecordSeparatorFramer()
        framer.append(Array("aaaaaaaa".utf8) + [RS] + Array("b".utf8) + [RS])
        #expect(try framer.next() == Array("aaaaaaaa".utf8))
        framer.append(Array("c".utf8) + [RS])
        #expect(try framer.next() == Array("b".utf8))
        framer.append(Array("dd".utf8))
        #expect(try framer.next() == Array("c".utf8))
        #expect(try framer.next() == nil)
        framer.append([RS])
        #expect(try framer.next() == Array("dd".utf8))
        #expect(framer.bufferedCount == 0)
    }

    @Test func withNextLendsTheBytes() throws {
        var framer = RecordSeparatorFramer()
        framer.append(JSONHubProtocol.pingMessage + JSONHubProtocol.pingMessage)
        #expect(try framer.withNext { try JSONHubProtocol.parse($0) } == .ping)
        #expect(framer.bufferedCount == JSONHubProtocol.pingMessage.count)
        #expect(try framer.withNext { $0.count } == 10)
        #expect(try framer.withNext { $0.count } == nil)
    }
}

// MARK: - Handshake

@Suite struct HubHandshakeTests {
    private func request(_ json: String) throws -> HandshakeRequest { try Handshake.parseRequest(Array(json.utf8)) }

    @Test func parsesWhatClientsSend() throws {
        #expect(try request(#"{"protocol":"json","version":1}"#) == HandshakeRequest(protocolName: "json", version: 1))
        #expect(try request(#"{"protocol": "json", "version": 0}"#) == HandshakeRequest(protocolName: "json", version: 0))
        #expect(try request(#"{"version":2,"protocol":"messagepack","extra":[1]}"#) == HandshakeRequest(protocolName: "messagepack", version: 2))
    }

    @Test func rejectsBadRequests() {
        #expect(throws: HubProtocolError.missingField("protocol")) { try request(#"{"version":1}"#) }
        #expect(throws: HubProtocolError.missingField("version")) { try request(#"{"protocol":"json"}"#) }
        #expect(throws: HubProtocolError.invalidField("version")) { try request(#"{"protocol":"json","version":"1"}"#) }
        #expect(throws: HubProtocolError.invalidField("version")) { try request(#"{"protocol":"json","version":1.5}"#) }
        #expect(throws: HubProtocolError.invalidField("protocol")) { try request(#"{"protocol":1,"version":1}"#) }
        #expect(throws: HubProtocolError.self) { try request(#"{"protocol":"json","version":1"#) }
        #expect(throws: HubProtocolError.self) { try request(#"{"type":6}"#) }
        #expect(throws: HubProtocolError.self) { try request("[]") }
    }

    @Test func validation() {
        let json1 = HandshakeRequest(protocolName: "json", version: 1)
        #expect(Handshake.validate(json1) == nil)
        #expect(Handshake.validate(HandshakeRequest(protocolName: "json", version: 0)) == nil)
        #expect(Handshake.validate(HandshakeRequest(protocolName: "JSON", version: 1)) == nil)
        // ASP.NET Core's JsonHubProtocol is version 2 and takes any version up to it (stateful reconnect sends 2).
        #expect(Handshake.validate(HandshakeRequest(protocolName: "json", version: 2)) == nil)
        #expect(Handshake.validate(HandshakeRequest(protocolName: "json", version: -1)) == nil)
        #expect(
            Handshake.validate(HandshakeRequest(protocolName: "json", version: 3))
                == "The server does not support version 3 of the 'json' protocol.")
        #expect(
            Handshake.validate(HandshakeRequest(protocolName: "json", version: 2), supportedProtocols: ["json": 0...1])
                == "The server does not support version 2 of the 'json' protocol.")
        #expect(
            Handshake.validate(HandshakeRequest(protocolName: "messagepack", version: 1))
                == "The protocol 'messagepack' is not supported.")
        #expect(Handshake.validate(HandshakeRequest(protocolName: "", version: 1)) == "The protocol '' is not supported.")
        let both: [String: ClosedRange<Int>] = ["json": 0...2, "messagepack": 0...2]
        let msgpack = HandshakeRequest(protocolName: "messagepack", version: 1)
        #expect(
            Handshake.validate(msgpack, supportedProtocols: both, transferFormatText: true)
                == "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format.")
        #expect(Handshake.validate(msgpack, supportedProtocols: both, transferFormatText: false) == nil)
        #expect(Handshake.validate(json1, supportedProtocols: both, transferFormatText: true) == nil)
        // Protocol is checked before version, version before transfer format.
        #expect(
            Handshake.validate(HandshakeRequest(protocolName: "messagepack", version: 9), supportedProtocols: both)
                == "The server does not support version 9 of the 'messagepack' protocol.")
    }

    @Test func responses() throws {
        #expect(Handshake.successResponse == [0x7B, 0x7D, 0x1E])
        #expect(text(Handshake.errorResponse("The protocol 'x' is not supported.")) == "{\"error\":\"The protocol 'x' is not supported.\"}\u{1E}")
        #expect(Handshake.canceledError == "Handshake was canceled.")
        #expect(Handshake.unexpectedError == "An unexpected error occurred during connection handshake.")
        #expect(try Handshake.successResponse.dropLast().withUnsafeBytes { try Handshake.parseResponse($0) } == nil)
        let error = Handshake.errorResponse("nope")
        #expect(try error.dropLast().withUnsafeBytes { try Handshake.parseResponse($0) } == "nope")
    }
}

// MARK: - Negotiate

@Suite struct NegotiateBodyTests {
    @Test func versions() {
        #expect(NegotiateVersion.resolve(nil) == .success(0))
        #expect(NegotiateVersion.resolve("0") == .success(0))
        #expect(NegotiateVersion.resolve("1") == .success(1))
        #expect(NegotiateVersion.resolve("2") == .success(1))
        #expect(NegotiateVersion.resolve("2147483647") == .success(1))
        #expect(NegotiateVersion.resolve(" 1 ") == .success(1))
        #expect(NegotiateVersion.resolve("+1") == .success(1))
        let nonInteger = Result<Int, NegotiateError>.failure(NegotiateError(message: "The client requested a non-integer protocol version."))
        for raw in ["abc", "", " ", "1.0", "1e1", "0x1", "2147483648", "99999999999999999999"] {
            #expect(NegotiateVersion.resolve(raw) == nonInteger, "\(raw.debugDescription)")
        }
        #expect(
            NegotiateVersion.resolve("-1")
                == .failure(NegotiateError(message: "The client requested version '-1', but the server does not support this version.")))
        #expect(
            NegotiateVersion.resolve("0", minimum: 1)
                == .failure(NegotiateError(message: "The client requested version '0', but the server does not support this version.")))
        #expect(NegotiateVersion.resolve(nil, minimum: 1) == .failure(.unsupportedVersion(0)))
        #expect(NegotiateVersion.resolve("1", minimum: 1) == .success(1))
    }

    @Test func bodies() throws {
        let transports: [TransportDescription] = [.webSockets, .serverSentEvents, .longPolling]
        let v1 = text(NegotiateResponse.body(version: 1, connectionId: "pub", connectionToken: "secret", transports: transports))
        #expect(
            v1
                == #"{"negotiateVersion":1,"connectionId":"pub","connectionToken":"secret","availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]},{"transport":"ServerSentEvents","transferFormats":["Text"]},{"transport":"LongPolling","transferFormats":["Text","Binary"]}]}"#
        )
        let v0 = text(NegotiateResponse.body(version: 0, connectionId: "pub", connectionToken: "secret", transports: [.webSockets]))
        #expect(
            v0 == #"{"negotiateVersion":0,"connectionId":"pub","availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}"#)
        #expect(!v0.contains("secret"))
        #expect(!v0.contains("ProtocolVersion") && !v1.contains("ProtocolVersion"))
        let stateful = NegotiateResponse.body(
            version: 1, connectionId: "a", connectionToken: "b", transports: [.webSockets], useStatefulReconnect: true)
        #expect(text(stateful).hasSuffix(#"]}],"useStatefulReconnect":true}"#))
        // Bodies are valid JSON.
        #expect(try JSONParser.parse(stateful)["useStatefulReconnect"] == .bool(true))
        #expect(text(NegotiateResponse.error("The client requested a non-integer protocol version.")) == #"{"error":"The client requested a non-integer protocol version."}"#)
    }
}

// MARK: - Error texts

@Suite struct HubErrorTextTests {
    @Test func exactTexts() {
        #expect(HubErrors.unknownMethod("Foo") == "Failed to invoke 'Foo' due to an error on the server. HubException: Method does not exist.")
        #expect(HubErrors.invocationFailed("Foo") == "Failed to invoke 'Foo' due to an error on the server.")
        #expect(HubErrors.hubException("Foo", "x") == "An unexpected error occurred invoking 'Foo' on the server. HubException: x")
        #expect(HubErrors.unexpected("Foo") == "An unexpected error occurred invoking 'Foo' on the server.")
        #expect(
            HubErrors.unexpected("Foo", detail: "InvalidOperationException: bad")
                == "An unexpected error occurred invoking 'Foo' on the server. InvalidOperationException: bad")
        #expect(HubErrors.closedWithError == "Connection closed with an error.")
        #expect(
            HubErrors.streamingMethodCalledWithInvoke("S")
                == "The client attempted to invoke the streaming 'S' method with a non-streaming invocation.")
        #expect(
            HubErrors.nonStreamingMethodCalledWithStream("S")
                == "The client attempted to invoke the non-streaming 'S' method with a streaming invocation.")
        #expect(HubErrors.unauthorized("Foo") == "Failed to invoke 'Foo' because user is unauthorized")
        #expect(HubErrors.streamCountMismatch(clientStreams: 1, methodStreams: 0) == "Client sent 1 stream(s), Hub method expects 0.")
        #expect(HubErrors.invocationIdInUse("3") == "Invocation ID '3' is already in use.")
        #expect(HubErrors.streamingFailed == "An error occurred on the server while streaming results.")
        #expect(HubErrors.connectionDisconnected == "Connection disconnected.")
        #expect(HubErrors.sequenceGap == "Sequence ID greater than amount of messages we've received.")
        #expect(HubErrors.maximumMessageSizeExceeded(32768) == "The maximum message size of 32768B was exceeded.")
        #expect(HubErrors.argumentCountMismatch(provided: 1, expected: 2) == "Invocation provides 1 argument(s) but target expects 2.")
    }
}
