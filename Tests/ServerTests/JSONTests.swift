import Testing

@testable import SignalRMesh

private func parse(_ text: String, maxDepth: Int = 64) throws -> JSONValue {
    try JSONParser.parse(Array(text.utf8), maxDepth: maxDepth)
}

private func parse(bytes: [UInt8]) throws -> JSONValue {
    try JSONParser.parse(bytes)
}

private func written(_ value: JSONValue) -> String {
    var out: [UInt8] = []
    JSONWriter.write(value, into: &out)
    return String(decoding: out, as: UTF8.self)
}

/// True when parsing `text` throws a syntax error (any offset).
private func isSyntaxError(_ text: String) -> Bool {
    do {
        _ = try parse(text)
        return false
    } catch JSONError.syntax {
        return true
    } catch {
        return false
    }
}

@Suite struct JSONParserTests {
    @Test func scalars() throws {
        #expect(try parse("null") == .null)
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("\"hi\"") == .string("hi"))
        #expect(try parse("0") == .number("0"))
        #expect(try parse("-0") == .number("-0"))
        #expect(try parse("1e5") == .number("1e5"))
        #expect(try parse("-2.5e3") == .number("-2.5e3"))
        #expect(try parse("1E+2") == .number("1E+2"))
        #expect(try parse("0.5e-7") == .number("0.5e-7"))
        #expect(try parse("123456789012345678901234567890") == .number("123456789012345678901234567890"))
    }

    @Test func numberLiteralIsKeptExactly() throws {
        // The literal text survives: no rounding, no normalisation.
        #expect(written(try parse("[1.10,-0,1E+2,3.14159265358979323846]")) == "[1.10,-0,1E+2,3.14159265358979323846]")
    }

    @Test(arguments: ["01", "-01", "00", "+1", ".5", "1.", "1.e5", "1e", "1e+", "-", "- 1", "0x10", "NaN", "Infinity",
        "-Infinity", "1_000"])
    func badNumbersAreRejected(_ text: String) {
        #expect(isSyntaxError(text), "\(text) must be rejected")
    }

    @Test func leadingZeroErrorPointsAtTheDigit() {
        #expect(throws: JSONError.syntax(offset: 1, "leading zeros are not allowed in numbers")) { try parse("01") }
    }

    @Test func numericAccessors() throws {
        #expect(try parse("42").intValue == 42)
        #expect(try parse("-0").intValue == 0)
        #expect(try parse("1e5").intValue == nil)  // not an integer literal
        #expect(try parse("1.0").intValue == nil)
        #expect(try parse("1e5").doubleValue == 100_000)
        #expect(try parse("-2.5e3").doubleValue == -2500)
        #expect(try parse("9223372036854775807").int64Value == Int64.max)
        #expect(try parse("-9223372036854775808").int64Value == Int64.min)
        #expect(try parse("9223372036854775808").int64Value == nil)
        #expect(try parse("-9223372036854775809").int64Value == nil)
        #expect(try parse("\"1\"").intValue == nil)
    }

    @Test func trueAndOneStayDistinct() throws {
        let v = try parse("[true,1,false,0]")
        #expect(v == .array([.bool(true), .number("1"), .bool(false), .number("0")]))
        #expect(JSONValue.bool(true) != .number("1"))
        #expect(v[0]?.intValue == nil)
        #expect(v[1]?.boolValue == nil)
        #expect(v[0]?.boolValue == true)
        #expect(written(v) == "[true,1,false,0]")
    }

    @Test func escapes() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try parse(#""\u0041\u00e9\u20AC\u20ac""#) == .string("Aé€€"))
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse(#""\uD83D\uDE00x""#) == .string("😀x"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse(#""a\nb""#).stringValue == "a\nb")
    }

    @Test(arguments: [#""\ud83d""#, #""\ude00""#, #""\ud83dx""#, #""\ud83d\u0041""#, #""\ud83d\ud83d""#,
        #""\ud83d\n""#])
    func loneSurrogatesAreErrors(_ text: String) {
        #expect(isSyntaxError(text))
    }

    @Test(arguments: [#""\x""#, #""\u12G4""#, #""\u12""#, #""\U0041""#, #""\'""#, "\"abc", "\"\\"])
    func badEscapesAndUnterminatedStrings(_ text: String) {
        #expect(isSyntaxError(text))
    }

    @Test func rawControlCharactersAreRejectedInStrings() {
        #expect(isSyntaxError("\"a\u{01}b\""))
        #expect(isSyntaxError("\"a\nb\""))
        #expect(isSyntaxError("\"a\tb\""))
        #expect(isSyntaxError("\"\u{1E}\""))
        #expect((try? parse("\"\u{7F}\"")) == .string("\u{7F}"))  // DEL is not a control char for JSON
    }

    @Test func validMultibyteUTF8() throws {
        #expect(try parse("\"é€😀\u{10FFFF}\"") == .string("é€😀\u{10FFFF}"))
    }

    @Test(arguments: [
        [0xC0, 0xAF],  // overlong '/'
        [0xC1, 0xBF],  // overlong
        [0xE0, 0x80, 0xAF],  // overlong 3-byte
        [0xED, 0xA0, 0x80],  // encoded surrogate U+D800
        [0xF0, 0x80, 0x80, 0xAF],  // overlong 4-byte
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],
        [0x80],  // stray continuation
        [0xBF],
        [0xE2, 0x82],  // truncated €
        [0xE2, 0x28, 0xA1],  // bad continuation
        [0xFF],
        [0xFE],
    ] as [[UInt8]])
    func invalidUTF8IsAnError(_ inner: [UInt8]) {
        #expect(throws: JSONError.invalidUTF8) { try parse(bytes: [0x22] + inner + [0x22]) }
    }

    @Test func invalidUTF8InsideAnObjectKeyAndInSkippedValues() {
        #expect(throws: JSONError.invalidUTF8) { try parse(bytes: Array("{\"".utf8) + [0xC0, 0x80] + Array("\":1}".utf8)) }
        // The hub parser skips unknown members without building them, and must still validate them.
        let bad = Array("{\"type\":6,\"x\":\"".utf8) + [0xFF] + Array("\"}".utf8)
        #expect(throws: HubProtocolError.invalidJSON(JSONError.invalidUTF8.description)) { try JSONHubProtocol.parse(bad) }
    }

    @Test func nesting() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: Never.self) { try parse(ok) }
        #expect(throws: JSONError.tooDeep) { try parse(tooDeep) }
        let objects = String(repeating: "{\"a\":", count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(throws: JSONError.tooDeep) { try parse(objects) }
        #expect(throws: JSONError.tooDeep) { try parse("[[[]]]", maxDepth: 2) }
        #expect(throws: Never.self) { try parse("[[]]", maxDepth: 2) }
        // Depth is about nesting, not about how many containers there are.
        let wide = "[" + Array(repeating: "[[]]", count: 1000).joined(separator: ",") + "]"
        #expect(throws: Never.self) { try parse(wide, maxDepth: 3) }
        // Very deep input fails fast with tooDeep instead of exhausting the stack.
        #expect(throws: JSONError.tooDeep) { try parse(String(repeating: "[", count: 100_000)) }
    }

    @Test func structureIsStrict() {
        for text in ["[1,]", "{\"a\":1,}", "[,1]", "{,}", "[1 2]", "{\"a\" 1}", "{a:1}", "{'a':1}", "['a']",
            "[1]//c", "/*c*/[1]", "[1] x", "{} {}", "1 2", "", "   ", "[", "{", "{\"a\":}", "tru", "nul", "True",
            "[1,,2]", "{\"a\":1 \"b\":2}", "\u{FEFF}1", "[1]\u{0}"]
        {
            #expect(isSyntaxError(text), "\(text.debugDescription) must be rejected")
        }
    }

    @Test func whitespaceAroundAndInside() throws {
        #expect(try parse(" \t\r\n{ \"a\" : [ 1 , true ] }\n ") == ["a": [1, true]])
        // Only the four JSON whitespace characters count.
        #expect(isSyntaxError("\u{0B}1"))
        #expect(isSyntaxError("\u{A0}1"))
    }

    @Test func errorOffsets() {
        #expect(throws: JSONError.syntax(offset: 3, "unexpected byte 0x5d, expected a JSON value")) { try parse("[1,]") }
        #expect(throws: JSONError.syntax(offset: 4, "unexpected data after the JSON value")) { try parse("[1] x") }
        #expect(throws: JSONError.syntax(offset: 1, "unexpected end of input, expected a JSON value")) { try parse("[") }
    }

    @Test func objectsKeepOrderAndDuplicates() throws {
        let v = try parse(#"{"b":1,"a":2,"b":3}"#)
        #expect(v.objectValue?.map(\.0) == ["b", "a", "b"])
        #expect(v["b"] == .number("3"))  // last duplicate wins, like System.Text.Json
        #expect(v["a"]?.intValue == 2)
        #expect(v["zz"] == nil)
        #expect(written(v) == #"{"b":1,"a":2,"b":3}"#)
    }

    @Test func objectEquality() {
        let a: JSONValue = ["x": 1, "y": "s"]
        #expect(a == ["x": 1, "y": "s"])
        #expect(a != ["x": 1, "y": "t"])
        #expect(a != ["x": 1])
        #expect(a != ["y": "s", "x": 1])  // order-sensitive by design
        #expect(a != .array([1, "s"]))
        #expect(JSONValue.object([]) != .array([]))
    }

    @Test func escapedKeysDecode() throws {
        #expect(try parse(#"{"a\u0062":1}"#)["ab"] == .number("1"))
    }
}

@Suite struct JSONWriterTests {
    @Test func stringEscaping() {
        var out: [UInt8] = []
        JSONWriter.writeString("a\"b\\c/d\n\r\t\u{08}\u{0C}\u{01}\u{1F}\u{7F}é😀", into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""a\"b\\c/d\n\r\t\b\f\u0001\u001f"# + "\u{7F}é😀\"")
    }

    @Test func nonASCIIIsRawUTF8() {
        var out: [UInt8] = []
        JSONWriter.writeString("€", into: &out)
        #expect(out == [0x22, 0xE2, 0x82, 0xAC, 0x22])
    }

    @Test func integers() {
        for (value, text) in [(0, "0"), (9, "9"), (10, "10"), (-1, "-1"), (1_234_567, "1234567"),
            (Int64.max, "9223372036854775807"), (Int64.min, "-9223372036854775808")] as [(Int64, String)]
        {
            var out: [UInt8] = []
            JSONWriter.writeInteger(value, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == text)
        }
    }

    @Test func values() {
        #expect(written(.null) == "null")
        #expect(written(["a": [1, "x", .null, false], "b": [:]]) == #"{"a":[1,"x",null,false],"b":{}}"#)
        #expect(written(.array([])) == "[]")
        #expect(JSONValue.double(0.1) == .number("0.1"))
        #expect(JSONValue.double(.nan) == nil)
        #expect(JSONValue.integer(UInt8(7)) == .number("7"))
        #expect(JSONValue.string("x\"").description == #""x\"""#)
    }

    @Test func roundTrips() throws {
        let samples: [JSONValue] = [
            .null, true, false, 0, -12, .number("-0.5E+10"), "", "plain", "esc\"\\\u{0}\u{1F}\n", "é€😀 \u{10FFFF}",
            [], [:], [1, [2, [3, ["deep": [true]]]]], ["k\"ey": "v", "": .null, "ü": .double(1.5)!],
        ]
        for value in samples {
            var out: [UInt8] = []
            JSONWriter.write(value, into: &out)
            #expect(try JSONParser.parse(out) == value, "round trip of \(value)")
        }
        // Every control character survives the trip.
        let controls = String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) }))
        var out: [UInt8] = []
        JSONWriter.writeString(controls, into: &out)
        #expect(try JSONParser.parse(out) == .string(controls))
        #expect(!out.contains(where: { $0 < 0x20 }))
    }
}

@Suite struct JSONFuzzTests {
    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// Mutated and truncated copies of valid documents must either parse (and then survive a write/parse round
    /// trip) or throw; never crash or read out of bounds (debug builds bounds-check every buffer access).
    @Test func mutatedInputsNeverCrash() throws {
        let seeds = [
            #"{"type":1,"target":"SendMessage","arguments":["u","hello",1.5e3,true,null,{"a":[-0]}],"invocationId":"1"}"#,
            #"{"type":3,"invocationId":"x","result":{"k\u00e9":"\ud83d\ude00 \n\t\\"}}"#,
            #"[0,-1,2.5,1e10,"é€😀",[],{},[[[]]]]"#,
            #"{"protocol":"json","version":1}"#,
        ].map { Array($0.utf8) }
        let alphabet: [UInt8] = Array(#"{}[]",:\u0123456789abcdefEe.-+ tnr"#.utf8) + [0x00, 0x1E, 0x80, 0xBF, 0xC3, 0xED, 0xF0, 0xFF]
        var rng = Rng(state: 0x9E37_79B9_7F4A_7C15)
        var parsed = 0
        for i in 0..<20_000 {
            var doc = seeds[i % seeds.count]
            for _ in 0...rng.below(3) {
                switch rng.below(4) {
                case 0: if !doc.isEmpty { doc[rng.below(doc.count)] = alphabet[rng.below(alphabet.count)] }
                case 1: doc.insert(alphabet[rng.below(alphabet.count)], at: rng.below(doc.count + 1))
                case 2: if doc.count > 1 { doc.remove(at: rng.below(doc.count)) }
                default: doc = Array(doc.prefix(rng.below(doc.count + 1)))
                }
            }
            if let value = try? JSONParser.parse(doc) {
                parsed += 1
                var out: [UInt8] = []
                JSONWriter.write(value, into: &out)
                #expect(try JSONParser.parse(out) == value)
            }
            _ = try? JSONHubProtocol.parse(doc)
            _ = try? Handshake.parseRequest(doc)
        }
        #expect(parsed > 0)
    }
}
