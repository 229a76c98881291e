import Foundation
import Testing

@testable import SignalRMesh

// AnyJSON: arbitrary JSON through the Codable machinery, unchanged.

@Suite struct JSONValueCodingAnyJSONTests {
    /// Parse → decode as AnyJSON → encode → write.
    private func passThrough(_ text: String) throws -> String {
        let any = try JSONValueDecoder.decode(AnyJSON.self, from: JSONParser.parse(text))
        return try CodingCheck.encode(any)
    }

    @Test(arguments: [
        #"{"b":1.50,"a":[1e3,null,true,"x\u0000"]}"#,
        #"{"a":1,"a":2,"":{},"z":[]}"#,  // duplicates and empty names kept, in order
        // Number literals as written, even those out of Double's range.
        #"[-0,1E+2,0.5e-7,123456789012345678901234567890,-1.0e-400,1e400]"#,
        #""é\n\t\"\\ \u001f😀""#,
        "1.50", "null", "true", "false", "[]", "{}", #""""#,
        #"{"deep":[[[[{"x":[null]}]]]]}"#,
    ])
    func bytesSurviveExactly(_ text: String) throws {
        #expect(try passThrough(text) == text)
    }

    @Test func nonCanonicalTextKeepsTheSameValue() throws {
        // Whitespace and escapes the writer spells differently change the bytes, never the value.
        let text = " { \"b\" : 1.50 , \"a\" : [ \"\\u00e9\\/\" ] } "
        let out = try passThrough(text)
        #expect(out == #"{"b":1.50,"a":["é/"]}"#)
        #expect(try JSONParser.parse(out) == JSONParser.parse(text))
    }

    @Test func echoObjectAsAHubMethodWouldSeeIt() throws {
        // A hub method `EchoObject(obj: AnyJSON) -> AnyJSON`: the arguments array is decoded, the result encoded.
        let arguments = try JSONParser.parse(#"[{"b":1.50,"a":[1e3,null,true,"x\u0000"]}]"#)
        let args = try JSONValueDecoder.decode([AnyJSON].self, from: arguments)
        let result = try JSONValueEncoder.encode(args[0])
        #expect(result == arguments[0])
        #expect(result.description == #"{"b":1.50,"a":[1e3,null,true,"x\u0000"]}"#)
    }

    @Test func insideOtherTypes() throws {
        let text = #"{"id":7,"payload":{"z":1.0,"a":[1e3]},"extra":[null,2.50],"maybe":null}"#
        let envelope = try CodingCheck.decode(Envelope.self, text)
        #expect(envelope.id == 7)
        #expect(envelope.payload.description == #"{"z":1.0,"a":[1e3]}"#)
        #expect(envelope.extra == [.null, try AnyJSON(parsing: "2.50")])
        #expect(envelope.maybe == nil)  // an optional AnyJSON takes null as nil
        #expect(try CodingCheck.encode(envelope) == #"{"id":7,"payload":{"z":1.0,"a":[1e3]},"extra":[null,2.50]}"#)
        // A non-optional AnyJSON takes null as the JSON null; a missing one is still a missing key.
        #expect(try CodingCheck.decode(Envelope.self, #"{"id":1,"payload":null,"extra":[]}"#).payload.isNull)
        #expect(CodingCheck.failure(Envelope.self, #"{"id":1,"extra":[]}"#)?.kind == "keyNotFound:payload")
        // Dictionaries of AnyJSON.
        let map = try CodingCheck.decode([String: AnyJSON].self, #"{"k":[1.10]}"#)
        #expect(try CodingCheck.encode(map) == #"{"k":[1.10]}"#)
    }

    @Test func handWrittenCodingReachesTheValueToo() throws {
        // `AnyJSON(from: decoder)` and `encode(to: encoder)` called directly, not through a container.
        let text = #"{"wrapped":{"n":1.50}}"#
        let wrapper = try CodingCheck.decode(DirectWrapper.self, text)
        #expect(wrapper.json.description == text)
        #expect(try CodingCheck.encode(wrapper) == text)
    }

    @Test func publicSurface() throws {
        let value = try AnyJSON(parsing: #" {"n": 1.50, "s": "x"} "#)
        #expect(value.description == #"{"n":1.50,"s":"x"}"#)
        #expect(!value.isNull && AnyJSON.null.isNull)
        #expect(throws: (any Error).self) { try AnyJSON(parsing: "{bad}") }
        #expect(throws: (any Error).self) { try AnyJSON(parsing: "1 2") }
        // Decode the held JSON into a concrete type later, or build one from a value.
        struct NS: Codable, Equatable {
            var n: Double
            var s: String
        }
        #expect(try value.decode(as: NS.self) == NS(n: 1.5, s: "x"))
        #expect(throws: DecodingError.self) { try value.decode(as: [Int].self) }
        #expect(try AnyJSON(encoding: NS(n: 2, s: "y")).description == #"{"n":2.0,"s":"y"}"#)
        #expect(throws: EncodingError.self) { try AnyJSON(encoding: Double.nan) }
    }

    @Test func equalityIsExact() throws {
        #expect(try AnyJSON(parsing: "1") != AnyJSON(parsing: "1.0"))
        #expect(try AnyJSON(parsing: #"{"a":1,"b":2}"#) != AnyJSON(parsing: #"{"b":2,"a":1}"#))
        #expect(try AnyJSON(parsing: #"{"a":1,"b":2}"#) == AnyJSON(parsing: #" {"a" : 1, "b" : 2} "#))
        #expect(try AnyJSON(parsing: "true") != AnyJSON(parsing: "1"))
    }

    @Test func foreignCodersGetTheClosestTheyCanHold() throws {
        // Through Foundation's coders AnyJSON still works, as precisely as they allow.
        let input = Data(#"{"a":[1,2.5,true,null,"s",-3,18446744073709551615,{"k":[]}]}"#.utf8)
        let decoded = try JSONDecoder().decode(AnyJSON.self, from: input)
        #expect(decoded.description == #"{"a":[1,2.5,true,null,"s",-3,18446744073709551615,{"k":[]}]}"#)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let encoded = try encoder.encode(try AnyJSON(parsing: #"{"b":[1,2.50,1e3,false,null,"q"],"a":{}}"#))
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"a":{},"b":[1,2.5,1000,false,null,"q"]}"#)
    }
}

private struct Envelope: Codable {
    var id: Int
    var payload: AnyJSON
    var extra: [AnyJSON]
    var maybe: AnyJSON?
}

/// Holds the member `wrapped` and hands its decoder/encoder to AnyJSON directly.
private struct DirectWrapper: Codable {
    var json: AnyJSON
    enum Keys: String, CodingKey { case wrapped }

    init(from decoder: any Decoder) throws {
        json = try AnyJSON(from: decoder)
        _ = try decoder.container(keyedBy: Keys.self).decode(AnyJSON.self, forKey: .wrapped)
    }

    func encode(to encoder: any Encoder) throws {
        try json.encode(to: encoder)
    }
}
