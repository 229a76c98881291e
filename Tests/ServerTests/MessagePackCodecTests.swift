import Testing

@testable import SignalRMesh

private func written(_ write: (inout [UInt8]) -> Void) -> [UInt8] {
    var out: [UInt8] = []
    write(&out)
    return out
}

private func msgpack(_ value: JSONValue) -> [UInt8] { written { MessagePackJSON.write(value, into: &$0) } }

private func json(_ hex: String) throws -> JSONValue { try MessagePackJSON.parse(hexBytes(hex)) }

@Suite struct MessagePackCodecTests {
    // MARK: Writer: smallest formats, byte for byte

    @Test func integers() throws {
        let cases: [(Int64, String)] = [
            (0, "00"), (127, "7f"), (128, "cc 80"), (255, "cc ff"), (256, "cd 01 00"), (65535, "cd ff ff"),
            (65536, "ce 00 01 00 00"), (4_294_967_295, "ce ff ff ff ff"), (4_294_967_296, "cf 00 00 00 01 00 00 00 00"),
            (Int64.max, "cf 7f ff ff ff ff ff ff ff"),
            (-1, "ff"), (-32, "e0"), (-33, "d0 df"), (-128, "d0 80"), (-129, "d1 ff 7f"), (-32768, "d1 80 00"),
            (-32769, "d2 ff ff 7f ff"), (Int64(Int32.min), "d2 80 00 00 00"),
            (Int64(Int32.min) - 1, "d3 ff ff ff ff 7f ff ff ff"), (Int64.min, "d3 80 00 00 00 00 00 00 00"),
        ]
        for (value, hex) in cases {
            #expect(written { MessagePackWriter.writeInt(value, into: &$0) } == hexBytes(hex), "\(value)")
            // And they read back.
            #expect(try json(hex) == .number(String(value)))
        }
        #expect(written { MessagePackWriter.writeUInt(UInt64.max, into: &$0) } == hexBytes("cf ff ff ff ff ff ff ff ff"))
    }

    @Test func scalarsAndHeaders() {
        #expect(written { MessagePackWriter.writeNil(into: &$0) } == [0xC0])
        #expect(written { MessagePackWriter.writeBool(false, into: &$0) } == [0xC2])
        #expect(written { MessagePackWriter.writeBool(true, into: &$0) } == [0xC3])
        #expect(written { MessagePackWriter.writeDouble(1.5, into: &$0) } == hexBytes("cb 3f f8 00 00 00 00 00 00"))
        #expect(written { MessagePackWriter.writeFloat(1.5, into: &$0) } == hexBytes("ca 3f c0 00 00"))
        for (count, prefix) in [(0, "a0"), (31, "bf"), (32, "d9 20"), (255, "d9 ff"), (256, "da 01 00"), (65536, "db 00 01 00 00")] {
            let s = String(repeating: "a", count: count)
            let bytes = written { MessagePackWriter.writeString(s, into: &$0) }
            #expect(Array(bytes.prefix(bytes.count - count)) == hexBytes(prefix), "str \(count)")
        }
        for (count, prefix) in [(0, "c4 00"), (255, "c4 ff"), (256, "c5 01 00"), (65536, "c6 00 01 00 00")] {
            let data = [UInt8](repeating: 7, count: count)
            let bytes = written { out in data.withUnsafeBytes { MessagePackWriter.writeBinary($0, into: &out) } }
            #expect(Array(bytes.prefix(bytes.count - count)) == hexBytes(prefix), "bin \(count)")
        }
        for (count, array, map) in [(0, "90", "80"), (15, "9f", "8f"), (16, "dc 00 10", "de 00 10"), (65536, "dd 00 01 00 00", "df 00 01 00 00")] {
            #expect(written { MessagePackWriter.writeArrayHeader(count, into: &$0) } == hexBytes(array))
            #expect(written { MessagePackWriter.writeMapHeader(count, into: &$0) } == hexBytes(map))
        }
    }

    // MARK: MessagePack → JSONValue

    @Test func everyFormatReads() throws {
        #expect(try json("c0") == .null)
        #expect(try json("c2") == false)
        #expect(try json("c3") == true)
        #expect(try json("cf ff ff ff ff ff ff ff ff") == .number("18446744073709551615"))
        #expect(try json("d0 ff") == .number("-1"))
        #expect(try json("d3 00 00 00 00 00 00 00 05") == .number("5"))
        #expect(try json("cb 3f f8 00 00 00 00 00 00") == .number("1.5"))
        #expect(try json("cb 3f b9 99 99 99 99 99 9a") == .number("0.1"))
        #expect(try json("cb 40 59 00 00 00 00 00 00") == .number("100.0"))
        #expect(try json("cb 80 00 00 00 00 00 00 00") == .number("-0.0"))
        #expect(try json("cb 44 15 af 1d 78 b5 8c 40") == .number("1e+20"))
        // float 32: the float's shortest text (0.1f, not 0.10000000149011612), printed as a double.
        #expect(try json("ca 3d cc cc cd") == .number("0.1"))
        #expect(try json("ca 50 15 02 f9") == .number("10000000000.0"))
        // NaN and the infinities: null (JSON can't spell them; JSON.stringify sends null).
        #expect(try json("cb 7f f8 00 00 00 00 00 00") == .null)
        #expect(try json("cb 7f f0 00 00 00 00 00 00") == .null)
        #expect(try json("cb ff f0 00 00 00 00 00 00") == .null)
        #expect(try json("ca 7f c0 00 00") == .null)
        #expect(try json("ca ff 80 00 00") == .null)
        // Strings in every length format, bin as Base64.
        #expect(try json("a3 61 62 63") == "abc")
        #expect(try json("d9 03 61 62 63") == "abc")
        #expect(try json("da 00 03 61 62 63") == "abc")
        #expect(try json("db 00 00 00 03 61 62 63") == "abc")
        #expect(try json("a4 f0 9f 98 80") == "😀")
        #expect(try json("c4 03 01 02 03") == "AQID")
        #expect(try json("c5 00 02 ff fe") == "//4=")
        #expect(try json("c6 00 00 00 00") == "")
        // Arrays and maps in every length format; map order and duplicates kept.
        #expect(try json("92 01 a1 78") == [1, "x"])
        #expect(try json("dc 00 01 c0") == [.null])
        #expect(try json("dd 00 00 00 01 c3") == [true])
        #expect(try json("82 a1 62 01 a1 61 02") == ["b": 1, "a": 2])
        #expect(try json("de 00 02 a1 61 01 a1 61 02") == ["a": 1, "a": 2])
        #expect(try json("df 00 00 00 00") == [:])
    }

    @Test func readErrors() {
        #expect(throws: MessagePackError.invalidFormat(offset: 0)) { try json("c1") }
        #expect(throws: MessagePackError.invalidFormat(offset: 1)) { try json("91 c1") }
        #expect(throws: MessagePackError.truncated(offset: 0)) { try json("") }
        #expect(throws: MessagePackError.truncated(offset: 0)) { try json("cd 01") }
        #expect(throws: MessagePackError.truncated(offset: 0)) { try json("a3 61 62") }
        #expect(throws: MessagePackError.truncated(offset: 0)) { try json("db ff ff ff ff") }
        // An array or map that announces more elements than there are bytes left fails at once.
        #expect(throws: MessagePackError.truncated(offset: 0)) { try json("dd ff ff ff ff") }
        #expect(throws: MessagePackError.truncated(offset: 0)) { try json("df 7f ff ff ff 00 00") }
        #expect(throws: MessagePackError.truncated(offset: 0)) { try json("81 01") }
        #expect(throws: MessagePackError.truncated(offset: 1)) { try json("91 92 01") }
        #expect(throws: MessagePackError.invalidUTF8(offset: 1)) { try json("a2 c3 28") }
        #expect(throws: MessagePackError.invalidUTF8(offset: 1)) { try json("a3 ed a0 80") }  // an encoded surrogate
        #expect(throws: MessagePackError.invalidUTF8(offset: 1)) { try json("a2 c0 80") }  // overlong
        #expect(throws: MessagePackError.invalidUTF8(offset: 2)) { try json("81 a1 ff 01") }
        #expect(throws: MessagePackError.nonStringKey(offset: 1)) { try json("81 01 02") }
        #expect(throws: MessagePackError.nonStringKey(offset: 1)) { try json("81 c4 01 61 02") }
        #expect(throws: MessagePackError.unsupportedExtension(type: -1, offset: 0)) { try json("d6 ff 00 00 00 00") }
        #expect(throws: MessagePackError.unsupportedExtension(type: 5, offset: 1)) { try json("91 c7 01 05 00") }
        #expect(throws: MessagePackError.trailingBytes(offset: 1)) { try json("01 02") }
    }

    @Test func readerSkipsWithoutDecoding() throws {
        // skipValue checks structure only: extensions and bad UTF-8 pass, truncation and 0xC1 don't.
        let good = hexBytes("93 d6 ff 00 00 00 00 a2 c3 28 81 01 c7 00 01")
        try good.withUnsafeBytes { raw in
            var reader = MessagePackReader(raw)
            try reader.skipValue()
            try reader.expectEnd()
        }
        for hex in ["92 01", "91 c1", "c8 00 05 01 00"] {
            hexBytes(hex).withUnsafeBytes { raw in
                var reader = MessagePackReader(raw)
                #expect(throws: MessagePackError.self) { try reader.skipValue() }
            }
        }
    }

    @Test func depthLimit() {
        let ok = [UInt8](repeating: 0x91, count: 63) + [0x90]
        let deep = [UInt8](repeating: 0x91, count: 64) + [0x90]
        #expect(throws: Never.self) { try MessagePackJSON.parse(ok) }
        #expect(throws: MessagePackError.tooDeep(maxDepth: 64)) { try MessagePackJSON.parse(deep) }
        #expect(throws: MessagePackError.tooDeep(maxDepth: 4)) { try MessagePackJSON.parse(hexBytes("91 91 91 91 90"), maxDepth: 4) }
        // A deep input far past the limit fails without deep recursion.
        let huge = [UInt8](repeating: 0x91, count: 1_000_000)
        #expect(throws: MessagePackError.tooDeep(maxDepth: 64)) { try MessagePackJSON.parse(huge) }
    }

    // MARK: JSONValue → MessagePack

    @Test func numbersPickTheSmallestFormat() {
        #expect(msgpack(.number("0")) == [0x00])
        #expect(msgpack(.number("-0")) == [0x00])
        #expect(msgpack(.number("42")) == [0x2A])
        #expect(msgpack(.number("-33")) == hexBytes("d0 df"))
        #expect(msgpack(.number("9223372036854775807")) == hexBytes("cf 7f ff ff ff ff ff ff ff"))
        #expect(msgpack(.number("-9223372036854775808")) == hexBytes("d3 80 00 00 00 00 00 00 00"))
        #expect(msgpack(.number("18446744073709551615")) == hexBytes("cf ff ff ff ff ff ff ff ff"))
        // Beyond UInt64, fractions and exponents: float 64.
        #expect(msgpack(.number("18446744073709551616")) == hexBytes("cb 43 f0 00 00 00 00 00 00"))
        #expect(msgpack(.number("-9223372036854775809")) == hexBytes("cb c3 e0 00 00 00 00 00 00"))
        #expect(msgpack(.number("1.0")) == hexBytes("cb 3f f0 00 00 00 00 00 00"))
        #expect(msgpack(.number("1e2")) == hexBytes("cb 40 59 00 00 00 00 00 00"))
        #expect(msgpack(.number("-2.5E-3")) == written { MessagePackWriter.writeDouble(-0.0025, into: &$0) })
        // Out of double range: infinity, which reads back as null.
        #expect(msgpack(.number("1e400")) == hexBytes("cb 7f f0 00 00 00 00 00 00"))
    }

    @Test func valuesRoundTrip() throws {
        let values: [JSONValue] = [
            .null, true, false, 0, -1, 1_000_000, .number("0.1"), .number("-1.5e-7"), "", "é😀\u{0}\n",
            [], [:], [1, [2, [3, ["k": [:]]]]], ["a": 1, "a": 2, "": .null],
            .string(String(repeating: "x", count: 70_000)), .array(Array(repeating: 1, count: 70_000)),
        ]
        for value in values {
            let bytes = msgpack(value)
            let back = try MessagePackJSON.parse(bytes)
            // Fractions are re-spelled (-1.5e-7 → -1.5e-07), everything else comes back equal; a second trip is exact.
            #expect(msgpack(back) == bytes)
            #expect(try MessagePackJSON.parse(msgpack(back)) == back)
            if value != .number("-1.5e-7") { #expect(back == value) }
        }
    }

    @Test func readValuesAreValidJSON() throws {
        // What the mapping produces must be JSON the JSON protocol can send.
        for hex in ["cb 7f f8 00 00 00 00 00 00", "ca 3d cc cc cd", "cb 00 00 00 00 00 00 00 01", "cb 7f ef ff ff ff ff ff ff",
                    "cf ff ff ff ff ff ff ff ff", "c4 02 00 ff", "82 a0 c0 a1 22 91 a1 5c"] {
            let value = try json(hex)
            #expect(try JSONParser.parse(Array(value.description.utf8)) == value, "\(hex) → \(value)")
        }
    }
}

@Suite struct MessagePackFramerTests {
    /// Messages with bodies of 0, 1, 127, 128 and 20 000 bytes, and every hub message type.
    static let bodies: [[UInt8]] = {
        var out: [[UInt8]] = [[], [0x42], [UInt8](repeating: 1, count: 127), [UInt8](repeating: 2, count: 128),
                              [UInt8](repeating: 3, count: 20_000)]
        for message in MessagePackHubProtocolTests.allMessages {
            let bytes = MessagePackHubProtocol.encode(message)
            out.append(Array(bytes.dropFirst(VarIntLengthFramer.lengthPrefixSize(bytes.count - 1) == 1 ? 1 : 2)))
        }
        return out
    }()
    static let stream: [UInt8] = bodies.flatMap(framed)

    static func frameAll(_ chunks: [[UInt8]], maxMessageSize: Int = 32 * 1024) throws -> [[UInt8]] {
        var framer = VarIntLengthFramer(maxMessageSize: maxMessageSize)
        var messages: [[UInt8]] = []
        for chunk in chunks {
            framer.append(chunk)
            while let message = try framer.next() { messages.append(message) }
        }
        #expect(framer.bufferedCount == 0)
        return messages
    }

    /// Messages, then the error's text if one came: comparable across feeds.
    static func transcript(_ chunks: [[UInt8]], maxMessageSize: Int) -> [String] {
        var framer = VarIntLengthFramer(maxMessageSize: maxMessageSize)
        var out: [String] = []
        for chunk in chunks {
            framer.append(chunk)
            do {
                while let message = try framer.next() { out.append("\(message.count):\(message.prefix(8))") }
            } catch {
                out.append("error: \(error)")
                return out
            }
        }
        return out
    }

    @Test func specLengths() {
        #expect(framed([UInt8](repeating: 0, count: 11)).prefix(1) == [0x0B])
        #expect(Array(framed([UInt8](repeating: 0, count: 5248)).prefix(2)) == [0x80, 0x29])
        for length in [0, 1, 127, 128, 16383, 16384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, 0x7FFF_FFFF] {
            var out: [UInt8] = []
            VarIntLengthFramer.writeLength(length, into: &out)
            #expect(out.count == VarIntLengthFramer.lengthPrefixSize(length), "\(length)")
            // The framer reads the same length back (the body isn't there yet).
            var framer = VarIntLengthFramer(maxMessageSize: 0)
            framer.append(out)
            #expect(throws: Never.self) { _ = try framer.next() }
            #expect(framer.hasFailed == false)
        }
    }

    @Test func wholeStream() throws {
        #expect(try Self.frameAll([Self.stream]) == Self.bodies)
        #expect(try Self.frameAll(Self.bodies.map(framed)) == Self.bodies)
        // And the hub messages parse.
        let parsed = try Self.frameAll([Self.stream]).dropFirst(5).map { try MessagePackHubProtocol.parse($0) }
        #expect(parsed == MessagePackHubProtocolTests.allMessages)
    }

    @Test func sameForEverySplit() {
        let whole = expectSameForEverySplit(Self.stream) { Self.transcript($0, maxMessageSize: 32 * 1024) }
        #expect(whole.count == Self.bodies.count)
        // With an error at the end: an oversize message after good ones.
        let bad = Array(Self.stream.prefix(300)) + framed([UInt8](repeating: 9, count: 200))
        let t = expectSameForEverySplit(bad) { Self.transcript($0, maxMessageSize: 150) }
        #expect(t.last == "error: \(FramerError.messageTooLarge)")
    }

    @Test func sizeLimit() throws {
        let max = 10
        let atMax = [UInt8](repeating: 0x61, count: max)
        #expect(try Self.frameAll([framed(atMax)], maxMessageSize: max) == [atMax])
        #expect(try Self.frameAll(framed(atMax).map { [$0] }, maxMessageSize: max) == [atMax])
        // Over the limit: refused as soon as the prefix is there, before the body is buffered.
        var framer = VarIntLengthFramer(maxMessageSize: max)
        framer.append([0x0B])
        #expect(framer.hasFailed)
        #expect(framer.bufferedCount == 0)
        #expect(throws: FramerError.messageTooLarge) { try framer.next() }
        framer.append(atMax + [0x61])
        #expect(framer.bufferedCount == 0)
        #expect(throws: FramerError.messageTooLarge) { try framer.next() }
        // A 2 GiB announcement with the default limit fails at once too.
        var big = VarIntLengthFramer()
        big.append([0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00])
        #expect(big.bufferedCount == 0)
        #expect(throws: FramerError.messageTooLarge) { try big.next() }
        // A good message ahead of the oversize one is still delivered first.
        var f2 = VarIntLengthFramer(maxMessageSize: max)
        f2.append(framed([1, 2]) + [0x0B, 0x61])
        #expect(try f2.next() == [1, 2])
        #expect(throws: FramerError.messageTooLarge) { try f2.next() }
        #expect(VarIntLengthFramer().maxMessageSize == 32_768)
    }

    @Test func badPrefixes() throws {
        // Six bytes, a continuation on the 5th, and values above 0x7FFFFFFF.
        for prefix in ["80 80 80 80 80 00", "80 80 80 80 80", "ff ff ff ff 08", "80 80 80 80 0f", "80 80 80 80 10"] {
            var framer = VarIntLengthFramer(maxMessageSize: 0)
            framer.append(hexBytes(prefix))
            #expect(throws: LengthPrefixError.invalidLengthPrefix, "\(prefix)") { try framer.next() }
            #expect(framer.bufferedCount == 0)
            #expect(throws: LengthPrefixError.invalidLengthPrefix) { try framer.next() }
        }
        // Four continuation bytes: still waiting.
        var framer = VarIntLengthFramer(maxMessageSize: 0)
        framer.append(hexBytes("80 80 80 80"))
        #expect(try framer.next() == nil)
        #expect(framer.bufferedCount == 4)
        // Non-minimal prefixes are valid (ASP.NET Core reads them too).
        #expect(try Self.frameAll([hexBytes("80 00 82 80 00 91 06")]) == [[], [0x91, 0x06]])
    }

    @Test func bufferIsReusedAcrossManyMessages() throws {
        var framer = VarIntLengthFramer(maxMessageSize: 64)
        let ping = MessagePackHubProtocol.pingMessage
        for _ in 0..<10_000 {
            framer.append(ping + ping + [0x02])
            #expect(try framer.next() == [0x91, 0x06])
            #expect(try framer.next() == [0x91, 0x06])
            #expect(try framer.next() == nil)
            framer.append([0x91, 0x06])
            #expect(try framer.next() == [0x91, 0x06])
        }
        #expect(framer.bufferedCount == 0)
    }

    @Test func appendingBeforeDrainingKeepsPendingMessages() throws {
        var framer = VarIntLengthFramer()
        framer.append(framed([1, 1, 1, 1, 1, 1, 1, 1]) + framed([2]))
        #expect(try framer.next() == [1, 1, 1, 1, 1, 1, 1, 1])
        framer.append(framed([3]))
        #expect(try framer.next() == [2])
        framer.append([0x02, 4])
        #expect(try framer.next() == [3])
        #expect(try framer.next() == nil)
        #expect(framer.bufferedCount == 2)
        framer.append([4])
        #expect(try framer.next() == [4, 4])
        #expect(framer.bufferedCount == 0)
    }

    @Test func withNextLendsTheBytes() throws {
        var framer = VarIntLengthFramer()
        framer.append(MessagePackHubProtocol.pingMessage + MessagePackHubProtocol.encode(.ack(sequenceId: 7)))
        #expect(try framer.withNext { try MessagePackHubProtocol.parse($0) } == .ping)
        #expect(framer.bufferedCount == 4)
        #expect(try framer.withNext { try MessagePackHubProtocol.parse($0) } == .ack(sequenceId: 7))
        #expect(try framer.withNext { $0.count } == nil)
    }
}
