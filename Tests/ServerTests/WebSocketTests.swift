import Testing

@testable import SignalRMesh

// MARK: - Helpers (private: other files in this test target define their own)

/// The masking key from RFC 6455 §5.7.
private let sampleKey: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A frame built by our encoder: masked (client to server) unless `masked` is false.
private func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, masked: Bool = true) -> [UInt8] {
    var out = [UInt8]()
    WebSocketFrameEncoder.encode(opcode, payload: payload, fin: fin, maskKey: masked ? sampleKey : nil, into: &out)
    return out
}

private enum LengthForm { case minimal, sixteen, sixtyFour }

/// A frame with any first byte (reserved bits and opcodes included) and a chosen length encoding, masked with
/// `sampleKey` unless `masked` is false.
private func rawFrame(firstByte: UInt8, _ payload: [UInt8], masked: Bool = true, form: LengthForm = .minimal) -> [UInt8] {
    var out: [UInt8] = [firstByte]
    let maskBit: UInt8 = masked ? 0x80 : 0
    let n = payload.count
    switch form {
    case .minimal where n <= 125:
        out.append(maskBit | UInt8(n))
    case .minimal where n <= 0xFFFF, .sixteen:
        out += [maskBit | 126, UInt8(n >> 8), UInt8(n & 0xFF)]
    default:
        out.append(maskBit | 127)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(n) >> UInt64(shift))) }
    }
    if masked {
        out += sampleKey
        out += payload.enumerated().map { $0.element ^ sampleKey[$0.offset % 4] }
    } else {
        out += payload
    }
    return out
}

/// What a parser made of some input: the events in order and the error it stopped at, if any.
private struct ParseResult: Equatable {
    var events: [WebSocketEvent] = []
    var error: WebSocketProtocolError?
}

/// Feeds `chunks` one after the other, draining events after each, and stops at the first error.
private func parse(
    _ chunks: [[UInt8]], role: WebSocketFrameParser.Role = .server, limits: WebSocketLimits = .init()
) -> ParseResult {
    var parser = WebSocketFrameParser(role: role, limits: limits)
    var result = ParseResult()
    for chunk in chunks {
        parser.append(chunk)
        do {
            while let event = try parser.next() { result.events.append(event) }
        } catch let error as WebSocketProtocolError {
            result.error = error
            return result
        } catch {
            Issue.record("unexpected error type \(error)")
            return result
        }
    }
    return result
}

private func parse(_ input: [UInt8], role: WebSocketFrameParser.Role = .server, limits: WebSocketLimits = .init()) -> ParseResult {
    parse([input], role: role, limits: limits)
}

/// Feeds `input` whole, split in two at every position (or every `stride`-th one for big inputs), and one byte at
/// a time, and checks that every way gives the same events and error. Returns the whole-input result.
@discardableResult
private func verifySplits(
    _ input: [UInt8], role: WebSocketFrameParser.Role = .server, limits: WebSocketLimits = .init(), stride step: Int = 1,
    sourceLocation: SourceLocation = #_sourceLocation
) -> ParseResult {
    expectSameForEverySplit(input, stride: step, sourceLocation: sourceLocation) { parse($0, role: role, limits: limits) }
}

private func expectError(
    _ input: [UInt8], code: UInt16, role: WebSocketFrameParser.Role = .server, limits: WebSocketLimits = .init(),
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let result = verifySplits(input, role: role, limits: limits)
    #expect(result.error?.code == code, "events: \(result.events)", sourceLocation: sourceLocation)
}

/// A deterministic generator so that failures reproduce.
private struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Handshake

@Suite struct WebSocketHandshakeTests {
    @Test func acceptValueMatchesRFCSample() {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    /// Header lookups over a list of (name, value) pairs, as an HTTP parser would provide them.
    private func validate(method: String = "GET", http11: Bool = true, _ headers: [(String, String)]) -> Result<String, HandshakeError> {
        WebSocketHandshake.validateRequest(
            method: method, versionIsHTTP11: http11,
            header: { name in headers.first { $0.0.lowercased() == name.lowercased() }?.1 },
            tokens: { name -> [String] in
                let values: [String] = headers.filter { $0.0.lowercased() == name.lowercased() }.map { $0.1 }
                let parts: [String] = values.flatMap { $0.split(separator: ",").map(String.init) }
                return parts.map { $0.wsTestTrimmed(" \t").lowercased() }.filter { !$0.isEmpty }
            })
    }

    private let good: [(String, String)] = [
        ("Host", "example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
    ]

    private func replacing(_ name: String, with value: String?) -> [(String, String)] {
        var headers = good.filter { $0.0 != name }
        if let value { headers.append((name, value)) }
        return headers
    }

    @Test func acceptsAValidRequest() {
        #expect(validate(good) == .success("dGhlIHNhbXBsZSBub25jZQ=="))
        // Header names in any case, token lists, mixed-case tokens, whitespace around the key.
        let browserLike: [(String, String)] = [
            ("upgrade", "WebSocket"), ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-key", "  dGhlIHNhbXBsZSBub25jZQ== "), ("SEC-WEBSOCKET-VERSION", "13"),
        ]
        #expect(validate(browserLike) == .success("dGhlIHNhbXBsZSBub25jZQ=="))
    }

    @Test func rejectsBadRequests() {
        func status(_ r: Result<String, HandshakeError>) -> Int? {
            if case .failure(let e) = r { return e.status }
            return nil
        }
        #expect(status(validate(method: "POST", good)) == 405)
        #expect(status(validate(http11: false, good)) == 400)
        #expect(status(validate(replacing("Upgrade", with: nil))) == 400)
        #expect(status(validate(replacing("Upgrade", with: "h2c"))) == 400)
        #expect(status(validate(replacing("Connection", with: nil))) == 400)
        #expect(status(validate(replacing("Connection", with: "keep-alive"))) == 400)
        #expect(status(validate(replacing("Sec-WebSocket-Key", with: nil))) == 400)
        #expect(status(validate(replacing("Sec-WebSocket-Key", with: "not base64!"))) == 400)
        #expect(status(validate(replacing("Sec-WebSocket-Key", with: "AAAAAAAAAAAAAAAAAAAA"))) == 400)  // 15 bytes
        #expect(status(validate(good + [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])) == 400)  // two keys
        #expect(status(validate(replacing("Sec-WebSocket-Version", with: "8"))) == 426)
        #expect(status(validate(replacing("Sec-WebSocket-Version", with: nil))) == 426)
        #expect(status(validate(replacing("Sec-WebSocket-Version", with: "13, 8"))) == 426)
    }

    @Test func versionErrorNamesOurVersion() throws {
        guard case .failure(let error) = validate(replacing("Sec-WebSocket-Version", with: "8")) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.headers.contains { $0.0 == "Sec-WebSocket-Version" && $0.1 == "13" })
    }

    @Test func clientRequestAndServerResponse() {
        let key = WebSocketHandshake.makeKey()
        #expect(key.utf8.count == 24)
        let request = String(decoding: WebSocketHandshake.clientRequest(host: "localhost", path: "/echo?x=1", key: key), as: UTF8.self)
        #expect(request.hasPrefix("GET /echo?x=1 HTTP/1.1\r\n"))
        #expect(request.hasSuffix("\r\n\r\n"))
        // Parse our own request back and validate it.
        let lines = request.split(separator: "\r\n").dropFirst()
        let headers = lines.map { line -> (String, String) in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), String(parts[1]).wsTestTrimmed(" "))
        }
        #expect(validate(headers) == .success(key))

        let response = String(decoding: WebSocketHandshake.response(forKey: key), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(response.contains("Sec-WebSocket-Accept: \(WebSocketHandshake.acceptValue(forKey: key))\r\n"))
        let responseHeaders = response.split(separator: "\r\n").dropFirst().map { line -> (String, String) in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]).lowercased(), String(parts[1]).wsTestTrimmed(" "))
        }
        let header: (String) -> String? = { name in responseHeaders.first { $0.0 == name.lowercased() }?.1 }
        let tokens: (String) -> [String] = { name in header(name).map { [$0.lowercased()] } ?? [] }
        #expect(WebSocketHandshake.isValidResponse(status: 101, header: header, tokens: tokens, key: key))
        #expect(!WebSocketHandshake.isValidResponse(status: 200, header: header, tokens: tokens, key: key))
        #expect(!WebSocketHandshake.isValidResponse(status: 101, header: header, tokens: tokens, key: WebSocketHandshake.makeKey()))
    }
}

extension String {
    fileprivate func wsTestTrimmed(_ set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

// MARK: - Frames

@Suite struct WebSocketFrameTests {
    /// The examples of RFC 6455 §5.7, byte for byte.
    @Test func rfcExamples() {
        let hello = bytes("Hello")
        #expect(frame(.text, hello, masked: false) == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        #expect(frame(.text, hello) == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        #expect(parse([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F], role: .client) == ParseResult(events: [.text(hello)]))
        #expect(parse([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]) == ParseResult(events: [.text(hello)]))
        // Fragmented unmasked text.
        #expect(parse([0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F], role: .client) == ParseResult(events: [.text(hello)]))
        // Unmasked ping, masked pong.
        #expect(parse([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F], role: .client) == ParseResult(events: [.ping(hello)]))
        #expect(parse([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]) == ParseResult(events: [.pong(hello)]))
        // 256 and 65536 bytes in one unmasked binary frame: 16-bit and 64-bit lengths.
        #expect(WebSocketFrameEncoder.header(.binary, length: 256) == [0x82, 0x7E, 0x01, 0x00])
        #expect(WebSocketFrameEncoder.header(.binary, length: 65536) == [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
    }

    @Test(arguments: [0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 100_003])
    func roundTripsSizes(size: Int) {
        var generator = TestRNG(state: UInt64(size))
        let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let headerSize = size <= 125 ? 2 : (size <= 65535 ? 4 : 10)

        let masked = frame(.binary, payload)
        #expect(masked.count == headerSize + 4 + size)
        let unmasked = frame(.binary, payload, masked: false)
        #expect(unmasked.count == headerSize + size)
        #expect(Array(unmasked[..<headerSize]) == WebSocketFrameEncoder.header(.binary, length: size))

        let expected = ParseResult(events: [.binary(payload)])
        let step = max(1, masked.count / 300)  // every position for small frames, a sample for big ones
        #expect(verifySplits(masked, role: .server, stride: step) == expected)
        #expect(verifySplits(unmasked, role: .client, stride: step) == expected)
    }

    @Test(arguments: [0, 125, 126, 65535, 65536])
    func textOfSize(size: Int) {
        // Multi-byte characters so that frame and split boundaries fall inside code points.
        let text = Array(String(repeating: "aκ€😀", count: size / 10 + 1).utf8.prefix(size))
        var valid = text
        while !UTF8Validator.isValid(valid) { valid.removeLast() }
        let result = verifySplits(frame(.text, valid), stride: max(1, valid.count / 200))
        #expect(result == ParseResult(events: [.text(valid)]))
    }

    /// Non-minimal length encodings are legal (see the parser's comment).
    @Test func nonMinimalLengths() {
        let hello = bytes("Hello")
        #expect(verifySplits(rawFrame(firstByte: 0x81, hello, form: .sixteen)) == ParseResult(events: [.text(hello)]))
        #expect(verifySplits(rawFrame(firstByte: 0x81, hello, form: .sixtyFour)) == ParseResult(events: [.text(hello)]))
        #expect(verifySplits(rawFrame(firstByte: 0x82, [], form: .sixtyFour)) == ParseResult(events: [.binary([])]))
    }

    @Test func fragmentationWithInterleavedControlFrames() {
        let input =
            frame(.text, bytes("Hel"), fin: false) + frame(.ping, bytes("p1")) + frame(.continuation, [], fin: false)
            + frame(.pong, []) + frame(.continuation, bytes("lo"), fin: false) + frame(.ping, [])
            + frame(.continuation, bytes("!")) + frame(.binary, [1, 2], fin: false) + frame(.continuation, [3])
        let result = verifySplits(input)
        #expect(
            result
                == ParseResult(events: [
                    .ping(bytes("p1")), .pong([]), .ping([]), .text(bytes("Hello!")), .binary([1, 2, 3]),
                ]))
    }

    /// A long mixed stream, split everywhere and byte by byte.
    @Test func mixedStreamSplitEverywhere() {
        var input = [UInt8]()
        var expected = [WebSocketEvent]()
        for size in [0, 1, 3, 4, 5, 125, 126, 300] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            input += frame(.binary, payload)
            expected.append(.binary(payload))
        }
        input += frame(.text, bytes("κό"), fin: false) + frame(.ping, bytes("x")) + frame(.continuation, bytes("σμε"))
        expected += [.ping(bytes("x")), .text(bytes("κόσμε"))]
        input += frame(.close, WebSocketFrameEncoder.closePayload(code: 1000, reason: "bye"))
        expected.append(.close(code: 1000, reason: "bye"))
        #expect(verifySplits(input) == ParseResult(events: expected))
    }

    /// Many tiny frames in one read: a few seconds in a debug build, but many minutes if each frame moved the rest
    /// of the buffer (`removeFirst` per frame). The test checks its own time budget and gives up, because a time
    /// limit trait can't interrupt a synchronous loop. The budget follows the build and the host (a sanitizer makes
    /// the parser 5–15× slower, a busy host slower still): 200 times what the same parser takes for a twentieth of
    /// the frames, and at least 45 s. Linear parsing takes about 50 such samples for both phases below (44 under
    /// TSan, 53 under ASan), quadratic parsing about 20² = 400 for the first phase alone.
    @Test func manySmallFramesInOneRead() throws {
        let one = frame(.binary, [42])
        let frameCount = 1_000_000
        var input = [UInt8]()
        input.reserveCapacity(one.count * frameCount)
        for _ in 0..<frameCount { input += one }
        let clock = ContinuousClock()
        let sample = Array(input[..<(one.count * frameCount / 20)])
        let sampleTime = try clock.measure {
            var parser = WebSocketFrameParser()
            parser.append(sample)
            while try parser.next() != nil {}
        }
        let budget = max(.seconds(45), sampleTime * 200)
        let deadline = clock.now.advanced(by: budget)

        // All in one read, drained completely.
        var parser = WebSocketFrameParser()
        parser.append(input)
        var count = 0
        while let event = try parser.next() {
            if event != .binary([42]) { Issue.record("unexpected \(event)") }
            count += 1
            if count % 10_000 == 0 && clock.now > deadline {
                Issue.record("too slow: \(count) frames parsed in \(budget)")
                return
            }
        }
        #expect(count == frameCount)
        #expect(parser.bufferedByteCount == 0)

        // Reads that outpace the consumer: one event taken per read, so unparsed input piles up and each append
        // happens with consumed bytes at the front of the buffer.
        var lagging = WebSocketFrameParser()
        count = 0
        var offset = 0
        while offset < input.count {
            let end = min(offset + 1000, input.count)
            lagging.append(Array(input[offset..<end]))
            offset = end
            if try lagging.next() != nil { count += 1 }
            if clock.now > deadline {
                Issue.record("too slow: lagging reader at byte \(offset) after \(budget)")
                return
            }
        }
        while try lagging.next() != nil { count += 1 }
        #expect(count == frameCount)
    }

    @Test func sixteenMebibyteMessage() throws {
        var generator = TestRNG(state: 7)
        let payload = (0..<(16 << 20)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let input = frame(.binary, payload)
        var parser = WebSocketFrameParser()
        // In pieces the size of typical socket reads.
        var events = [WebSocketEvent]()
        var offset = 0
        while offset < input.count {
            let end = min(offset + 65536, input.count)
            parser.append(Array(input[offset..<end]))
            while let event = try parser.next() { events.append(event) }
            offset = end
        }
        #expect(events == [.binary(payload)])
    }

    @Test func maskingMatchesNaiveXORAtEveryPhase() {
        var generator = TestRNG(state: 99)
        let key: (UInt8, UInt8, UInt8, UInt8) = (0x01, 0x82, 0x43, 0xF4)
        let keyBytes: [UInt8] = [0x01, 0x82, 0x43, 0xF4]
        for length in 0..<40 {
            for phase in 0..<8 {
                let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                var fast = data
                fast.withUnsafeMutableBytes { WebSocketMask.apply(key: key, phase: phase, to: $0) }
                let naive = data.enumerated().map { $0.element ^ keyBytes[($0.offset + phase) % 4] }
                #expect(fast == naive, "length \(length) phase \(phase)")
            }
        }
    }

    @Test func closePayloads() {
        #expect(WebSocketFrameEncoder.closePayload(code: 1000, reason: "") == [0x03, 0xE8])
        #expect(WebSocketFrameEncoder.closePayload(code: 4001, reason: "ok") == [0x0F, 0xA1, 0x6F, 0x6B])
        // A long reason is cut to fit 125 bytes, at a character boundary.
        let long = WebSocketFrameEncoder.closePayload(code: 1011, reason: String(repeating: "é", count: 100))
        #expect(long.count == 124)  // 2 + 61 × 2 bytes: the 62nd "é" would need bytes 123 and 124
        #expect(UTF8Validator.isValid(Array(long[2...])))
        let ascii = WebSocketFrameEncoder.closePayload(code: 1000, reason: String(repeating: "a", count: 200))
        #expect(ascii.count == 125)
        // What we send, we accept.
        #expect(parse(frame(.close, long)).events == [.close(code: 1011, reason: String(repeating: "é", count: 61))])
    }

    @Test func closeFrames() {
        #expect(verifySplits(frame(.close, [])) == ParseResult(events: [.close(code: nil, reason: "")]))
        #expect(verifySplits(frame(.close, [0x03, 0xE8])) == ParseResult(events: [.close(code: 1000, reason: "")]))
        #expect(
            verifySplits(frame(.close, WebSocketFrameEncoder.closePayload(code: 1001, reason: "κόσμε")))
                == ParseResult(events: [.close(code: 1001, reason: "κόσμε")]))
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] as [UInt16])
    func validCloseCodes(code: UInt16) {
        #expect(parse(frame(.close, WebSocketFrameEncoder.closePayload(code: code, reason: "r"))).events == [.close(code: code, reason: "r")])
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func invalidCloseCodes(code: UInt16) {
        expectError(frame(.close, WebSocketFrameEncoder.closePayload(code: code, reason: "")), code: 1002)
    }
}

// MARK: - Protocol errors

@Suite struct WebSocketProtocolErrorTests {
    @Test(arguments: [0x40, 0x20, 0x10, 0x70] as [UInt8])
    func reservedBits(bits: UInt8) {
        expectError(rawFrame(firstByte: 0x80 | bits | 0x01, bytes("hi")), code: 1002)
        expectError(rawFrame(firstByte: 0x80 | bits | 0x09, []), code: 1002)
    }

    @Test(arguments: [3, 4, 5, 6, 7, 11, 12, 13, 14, 15] as [UInt8])
    func reservedOpcodes(opcode: UInt8) {
        expectError(rawFrame(firstByte: 0x80 | opcode, []), code: 1002)
        expectError(rawFrame(firstByte: 0x80 | opcode, bytes("payload")), code: 1002)
        // Also when it comes after a good frame: the good frame's event is still delivered.
        let result = verifySplits(frame(.text, bytes("ok")) + rawFrame(firstByte: 0x80 | opcode, []))
        #expect(result == ParseResult(events: [.text(bytes("ok"))], error: .protocolError("reserved opcode")))
    }

    @Test func fragmentedControlFrames() {
        expectError(frame(.text, bytes("a"), fin: false) + rawFrame(firstByte: 0x09, bytes("x")), code: 1002)  // ping, FIN clear
        expectError(rawFrame(firstByte: 0x0A, []), code: 1002)  // pong
        expectError(rawFrame(firstByte: 0x08, [0x03, 0xE8]), code: 1002)  // close
    }

    @Test func controlFramesOver125Bytes() {
        expectError(rawFrame(firstByte: 0x89, [UInt8](repeating: 1, count: 126)), code: 1002)
        expectError(rawFrame(firstByte: 0x8A, [UInt8](repeating: 1, count: 126)), code: 1002)
        expectError(rawFrame(firstByte: 0x88, [0x03, 0xE8] + [UInt8](repeating: 0x61, count: 124)), code: 1002)
        expectError(rawFrame(firstByte: 0x89, [UInt8](repeating: 1, count: 126), form: .sixtyFour), code: 1002)
        // Like data frames, a short control payload may use a non-minimal length encoding.
        #expect(verifySplits(rawFrame(firstByte: 0x89, [1, 2], form: .sixteen)) == ParseResult(events: [.ping([1, 2])]))
        #expect(parse(rawFrame(firstByte: 0x89, [UInt8](repeating: 1, count: 125))).events == [.ping([UInt8](repeating: 1, count: 125))])
    }

    @Test func continuationWithoutMessage() {
        expectError(frame(.continuation, bytes("x")), code: 1002)
        expectError(frame(.continuation, bytes("x"), fin: false), code: 1002)
        // Also after a finished message.
        expectError(frame(.text, bytes("a")) + frame(.continuation, bytes("b")), code: 1002)
    }

    @Test func newMessageInsideFragmentedOne() {
        expectError(frame(.text, bytes("a"), fin: false) + frame(.text, bytes("b")), code: 1002)
        expectError(frame(.binary, [1], fin: false) + frame(.text, bytes("b")), code: 1002)
        expectError(frame(.text, bytes("a"), fin: false) + frame(.ping, []) + frame(.binary, [1]), code: 1002)
    }

    @Test func masking() {
        // Server role: the client must mask.
        expectError(frame(.text, bytes("hi"), masked: false), code: 1002, role: .server)
        expectError(frame(.ping, [], masked: false), code: 1002, role: .server)
        // Client role: the server must not.
        expectError(frame(.text, bytes("hi")), code: 1002, role: .client)
    }

    @Test func sixtyFourBitLengthWithHighBit() {
        let input: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1] + sampleKey
        expectError(input, code: 1002)
        expectError([0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + sampleKey, code: 1002)
    }

    @Test func frameTooBigIsCaughtFromTheHeader() {
        let limits = WebSocketLimits(maxFrameSize: 1000, maxMessageSize: 5000)
        // Only the header: the payload never arrives, the error comes anyway.
        let header = Array(frame(.binary, [UInt8](repeating: 0, count: 1001)).prefix(8))
        #expect(header.count == 8)
        expectError(header, code: 1009, limits: limits)
        // Just at the limit is fine.
        #expect(parse(frame(.binary, [UInt8](repeating: 0, count: 1000)), limits: limits).events.count == 1)
        // A 64-bit length that doesn't fit in any buffer.
        expectError([0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + sampleKey, code: 1009)
        // With the default limits, 16 MiB + 65 bytes is too much, announced in a header alone.
        var big = [UInt8]()
        WebSocketFrameEncoder.appendHeader(.binary, length: 16 << 20 + 65, fin: true, masked: true, into: &big)
        expectError(big + sampleKey, code: 1009)
    }

    /// The message buffer is reused between messages: payloads already handed out keep their bytes, each new
    /// message gets the whole size limit, and a big buffer is not kept.
    @Test func messagesAfterMessagesReuseTheBufferSafely() throws {
        let limits = WebSocketLimits(maxFrameSize: 1000, maxMessageSize: 1000)
        var parser = WebSocketFrameParser(limits: limits)
        var delivered = [[UInt8]]()
        let sizes = [900, 10, 900, 600, 3, 1000, 0, 1000]
        for (i, size) in sizes.enumerated() {
            parser.append(frame(.text, [UInt8](repeating: UInt8(ascii: "a") + UInt8(i), count: size)))
            guard case .text(let payload)? = try parser.next() else {
                Issue.record("message \(i) not delivered")
                return
            }
            delivered.append(payload)
        }
        for (i, size) in sizes.enumerated() {
            #expect(delivered[i] == [UInt8](repeating: UInt8(ascii: "a") + UInt8(i), count: size))
        }
        // Fragments still count against the limit together.
        parser.append(frame(.text, [UInt8](repeating: 0x61, count: 600), fin: false))
        parser.append(frame(.continuation, [UInt8](repeating: 0x61, count: 600)))
        #expect(throws: WebSocketProtocolError.self) { try parser.next() }
    }

    @Test func messageTooBigAcrossFragments() {
        let limits = WebSocketLimits(maxFrameSize: 1000, maxMessageSize: 2500)
        let chunk = [UInt8](repeating: 7, count: 1000)
        let ok = frame(.binary, chunk, fin: false) + frame(.continuation, chunk, fin: false) + frame(.continuation, Array(chunk[..<500]))
        #expect(parse(ok, limits: limits).events == [.binary([UInt8](repeating: 7, count: 2500))])
        let tooBig = frame(.binary, chunk, fin: false) + frame(.continuation, chunk, fin: false) + frame(.continuation, Array(chunk[..<501]))
        // Caught from the third header: cut the input there.
        expectError(Array(tooBig.prefix(2 * 1008 + 8)), code: 1009, limits: limits)
        // Control frames in between don't count.
        let withPings = frame(.binary, chunk, fin: false) + frame(.ping, [UInt8](repeating: 1, count: 125)) + frame(.continuation, Array(chunk[..<1000]))
        #expect(parse(withPings, limits: WebSocketLimits(maxFrameSize: 2000, maxMessageSize: 2000)).events.count == 2)
    }

    @Test func closePayloadOfOneByte() {
        expectError(frame(.close, [0x03]), code: 1002)
    }

    @Test func closeReasonMustBeUTF8() {
        expectError(frame(.close, [0x03, 0xE8, 0x61, 0xFF]), code: 1007)
        expectError(frame(.close, [0x03, 0xE8, 0xCE]), code: 1007)  // truncated sequence
    }

    @Test func staysFailed() throws {
        var parser = WebSocketFrameParser()
        parser.append(frame(.continuation, []))
        #expect(throws: WebSocketProtocolError.self) { try parser.next() }
        parser.append(frame(.text, bytes("after")))
        var thrown: WebSocketProtocolError?
        do { _ = try parser.next() } catch let error as WebSocketProtocolError { thrown = error }
        #expect(thrown?.code == 1002)
        #expect(parser.bufferedByteCount == 0)
    }
}

// MARK: - UTF-8

@Suite struct WebSocketUTF8Tests {
    @Test(arguments: [
        [], [0x00], [0x7F], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],
        [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xEF, 0xBF, 0xBE],  // U+FFFE is allowed
        Array("κόσμε".utf8), Array("Hello-µ@ßöäüàá-UTF-8!!".utf8),
    ] as [[UInt8]])
    func valid(input: [UInt8]) {
        #expect(UTF8Validator.isValid(input))
        #expect(verifySplits(frame(.text, input)) == ParseResult(events: [.text(input)]))
    }

    @Test(arguments: [
        [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF],  // lone continuation, overlong 2-byte
        [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],  // overlong 3-byte
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],  // surrogates
        [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],  // overlong 4-byte
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE],  // above U+10FFFF
        [0xC2, 0x41], [0xE1, 0x80, 0x41], [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64],
        [0xC2], [0xE1, 0x80], [0xF1, 0x80, 0x80],  // truncated at the end
    ] as [[UInt8]])
    func invalid(input: [UInt8]) {
        #expect(!UTF8Validator.isValid(input))
        expectError(frame(.text, input), code: 1007)
        // Invalid bytes in a binary message are fine.
        #expect(parse(frame(.binary, input)).events == [.binary(input)])
    }

    /// Random byte strings biased towards UTF-8-like bytes, compared with the standard library's validation.
    @Test func agreesWithStandardLibrary() {
        var generator = TestRNG(state: 2024)
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...12, using: &generator)
            let input = (0..<length).map { _ in interesting.randomElement(using: &generator)! }
            let expected = String(validating: input, as: UTF8.self) != nil
            #expect(UTF8Validator.isValid(input) == expected, "\(input)")
            // And fed in two pieces at every position.
            for split in 0...length {
                var v = UTF8Validator()
                let ok = v.feed(Array(input[..<split])) && v.feed(Array(input[split...])) && v.isComplete
                if ok != expected { Issue.record("split at \(split) of \(input)") }
            }
        }
    }

    @Test func feedReportsAsSoonAsInvalid() {
        var v = UTF8Validator()
        let first = v.feed([0x61, 0xF4])
        #expect(first)
        #expect(!v.isComplete)
        let second = v.feed([0x90])  // U+110000 and up: invalid at the second byte
        #expect(!second)
        let third = v.feed([0x61])  // stays invalid
        #expect(!third)
        v.reset()
        #expect(v.feed([0x61]) && v.isComplete)
    }

    @Test func validTextSplitAcrossFragments() {
        let kosme = bytes("κόσμε")
        // Split inside a two-byte character.
        let input = frame(.text, Array(kosme[..<3]), fin: false) + frame(.continuation, Array(kosme[3...]))
        #expect(verifySplits(input) == ParseResult(events: [.text(kosme)]))
        // One byte per fragment.
        var perByte = [UInt8]()
        for (i, byte) in kosme.enumerated() { perByte += frame(i == 0 ? .text : .continuation, [byte], fin: i == kosme.count - 1) }
        #expect(verifySplits(perByte) == ParseResult(events: [.text(kosme)]))
    }

    /// An invalid sequence that straddles two fragments fails at the second fragment, before the message ends.
    @Test func invalidSequenceAcrossFragmentsFailsFast() throws {
        var parser = WebSocketFrameParser()
        parser.append(frame(.text, bytes("ab") + [0xF4], fin: false))
        let pending = try parser.next()
        #expect(pending == nil)
        parser.append(frame(.continuation, [0x90, 0x80, 0x80], fin: false))  // F4 90: beyond U+10FFFF
        var thrown: WebSocketProtocolError?
        do { _ = try parser.next() } catch let error as WebSocketProtocolError { thrown = error }
        #expect(thrown?.code == 1007)

        let whole = frame(.text, bytes("ab") + [0xF4], fin: false) + frame(.continuation, [0x90, 0x80, 0x80], fin: false)
        expectError(whole, code: 1007)
    }

    /// Autobahn 6.4.x: the bad byte arrives in the middle of a frame whose remaining payload is still on the wire.
    @Test func invalidByteMidFrameFailsBeforeTheFrameEnds() throws {
        let payload = bytes("κόσμε") + [0xF4, 0x90, 0x80, 0x80] + bytes("edited")
        let input = frame(.text, payload)
        let cut = 6 + bytes("κόσμε").count + 2  // header (2 + mask 4), "κόσμε", then F4 90
        var parser = WebSocketFrameParser()
        parser.append(Array(input[..<cut]))
        var thrown: WebSocketProtocolError?
        do { _ = try parser.next() } catch let error as WebSocketProtocolError { thrown = error }
        #expect(thrown?.code == 1007)

        // One byte earlier the bytes are still valid so far: no error yet.
        var early = WebSocketFrameParser()
        early.append(Array(input[..<(cut - 1)]))
        let pending = try early.next()
        #expect(pending == nil)
    }

    @Test func textEndingMidSequenceFailsAtTheEnd() throws {
        var parser = WebSocketFrameParser()
        parser.append(frame(.text, bytes("ab") + [0xE2, 0x82], fin: false))
        let pending = try parser.next()
        #expect(pending == nil)  // could still become "€"
        parser.append(frame(.continuation, []))
        #expect(throws: WebSocketProtocolError.invalidUTF8("text message ends inside a UTF-8 sequence")) { try parser.next() }
    }
}

// MARK: - State machine

@Suite struct WebSocketStateMachineTests {
    @Test func dataAndPings() {
        var sm = WebSocketStateMachine()
        #expect(sm.received(.text(bytes("hi"))) == [.deliverText(bytes("hi"))])
        #expect(sm.received(.binary([1])) == [.deliverBinary([1])])
        #expect(sm.received(.ping(bytes("p"))) == [.sendPong(bytes("p"))])
        #expect(sm.received(.pong(bytes("p"))) == [])
        #expect(sm.state == .open)
    }

    @Test func peerInitiatedClose() {
        var sm = WebSocketStateMachine()
        #expect(sm.received(.close(code: 1001, reason: "going away")) == [.sendClose(code: 1001, reason: ""), .closeTransport])
        #expect(sm.state == .closed)
        #expect(sm.received(.text(bytes("late"))) == [])
        #expect(sm.received(.ping([])) == [])
        #expect(sm.received(.close(code: 1000, reason: "")) == [])
        #expect(sm.close(code: 1000, reason: "") == [])
        #expect(sm.failed(.protocolError("x")) == [])
    }

    @Test func closeWithoutCodeIsAnsweredWith1000() {
        var sm = WebSocketStateMachine()
        #expect(sm.received(.close(code: nil, reason: "")) == [.sendClose(code: 1000, reason: ""), .closeTransport])
    }

    @Test func serverInitiatedClose() {
        var sm = WebSocketStateMachine()
        #expect(sm.close(code: 1000, reason: "bye") == [.sendClose(code: 1000, reason: "bye")])
        #expect(sm.state == .closeSent)
        #expect(sm.close(code: 1000, reason: "again") == [])
        // Data and pings after our close are dropped; no pong after a close frame.
        #expect(sm.received(.text(bytes("x"))) == [])
        #expect(sm.received(.binary([1])) == [])
        #expect(sm.received(.ping([1])) == [])
        #expect(sm.received(.close(code: 1000, reason: "")) == [.closeTransport])
        #expect(sm.state == .closed)
    }

    @Test func serverInitiatedCloseTimesOut() {
        var sm = WebSocketStateMachine()
        #expect(sm.closeTimedOut() == [])  // no close pending
        _ = sm.close(code: 1001, reason: "")
        #expect(sm.closeTimedOut() == [.closeTransport])
        #expect(sm.state == .closed)
        #expect(sm.closeTimedOut() == [])
    }

    @Test func protocolFailure() {
        var sm = WebSocketStateMachine()
        #expect(sm.failed(.invalidUTF8("bad")) == [.sendClose(code: 1007, reason: "bad"), .closeTransport])
        #expect(sm.state == .closed)

        var closing = WebSocketStateMachine()
        _ = closing.close(code: 1000, reason: "")
        #expect(closing.failed(.tooBig("big")) == [.closeTransport])  // never a second close frame
    }

    @Test func transportClosed() {
        var sm = WebSocketStateMachine()
        sm.transportClosed()
        #expect(sm.state == .closed)
        #expect(sm.received(.ping([])) == [])
    }

    /// The parser and the state machine together, as the connection code drives them.
    @Test func parserAndStateMachineTogether() throws {
        let input =
            frame(.text, bytes("a"), fin: false) + frame(.ping, bytes("!")) + frame(.continuation, bytes("b"))
            + frame(.close, WebSocketFrameEncoder.closePayload(code: 1000, reason: "done")) + frame(.text, bytes("ignored"))
        var parser = WebSocketFrameParser()
        var sm = WebSocketStateMachine()
        var actions = [WebSocketStateMachine.Action]()
        parser.append(input)
        while sm.state != .closed, let event = try parser.next() { actions += sm.received(event) }
        #expect(actions == [.sendPong(bytes("!")), .deliverText(bytes("ab")), .sendClose(code: 1000, reason: ""), .closeTransport])
    }
}
