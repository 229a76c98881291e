import Testing

@testable import SignalRMesh

// Numbers through JSONValueDecoder/JSONValueEncoder: exact integer bounds, floating-point edge cases, and no
// confusion between numbers, booleans and strings.

@Suite struct JSONValueCodingNumberTests {
    /// The range edges of one integer type, as literals: the bounds must decode, the literals just outside must not.
    struct IntegerBounds: Sendable, CustomStringConvertible {
        var name: String
        var min: String
        var max: String
        var belowMin: String
        var aboveMax: String
        /// Decodes the literal as the type and re-encodes it; throws what decoding throws.
        var roundTrip: @Sendable (String) throws -> String

        var description: String { name }

        static func of<T: FixedWidthInteger & Codable & Sendable>(
            _ type: T.Type, belowMin: String, aboveMax: String
        ) -> IntegerBounds {
            IntegerBounds(
                name: "\(T.self)", min: String(T.min), max: String(T.max), belowMin: belowMin, aboveMax: aboveMax,
                roundTrip: { text in try CodingCheck.encode(CodingCheck.decode(T.self, text)) })
        }

        static let all: [IntegerBounds] = [
            .of(Int8.self, belowMin: "-129", aboveMax: "128"),
            .of(Int16.self, belowMin: "-32769", aboveMax: "32768"),
            .of(Int32.self, belowMin: "-2147483649", aboveMax: "2147483648"),
            .of(Int64.self, belowMin: "-9223372036854775809", aboveMax: "9223372036854775808"),
            .of(Int.self, belowMin: "-9223372036854775809", aboveMax: "9223372036854775808"),
            .of(
                Int128.self, belowMin: "-170141183460469231731687303715884105729",
                aboveMax: "170141183460469231731687303715884105728"),
            .of(UInt8.self, belowMin: "-1", aboveMax: "256"),
            .of(UInt16.self, belowMin: "-1", aboveMax: "65536"),
            .of(UInt32.self, belowMin: "-1", aboveMax: "4294967296"),
            .of(UInt64.self, belowMin: "-1", aboveMax: "18446744073709551616"),
            .of(UInt.self, belowMin: "-1", aboveMax: "18446744073709551616"),
            .of(UInt128.self, belowMin: "-1", aboveMax: "340282366920938463463374607431768211456"),
        ]
    }

    /// The kind of `DecodingError` that decoding `text` through `bounds` throws, or nil if it decodes.
    private func failureKind(_ bounds: IntegerBounds, _ text: String) -> String? {
        do {
            _ = try bounds.roundTrip(text)
            return nil
        } catch let error as DecodingError {
            return CodingCheck.Failure(error).kind
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: IntegerBounds.all)
    func integerBounds(_ bounds: IntegerBounds) throws {
        #expect(try bounds.roundTrip(bounds.max) == bounds.max)
        #expect(try bounds.roundTrip(bounds.min) == bounds.min)
        #expect(try bounds.roundTrip("0") == "0")
        #expect(try bounds.roundTrip("-0") == "0")  // -0 is zero, for unsigned types too
        #expect(try bounds.roundTrip("1") == "1")
        #expect(failureKind(bounds, bounds.aboveMax) == "dataCorrupted")
        #expect(failureKind(bounds, bounds.belowMin) == "dataCorrupted")
        #expect(failureKind(bounds, bounds.max + "0") == "dataCorrupted")
        #expect(failureKind(bounds, "99999999999999999999999999999999999999999999999999") == "dataCorrupted")
        // Fractions and exponents are not integers, not even when the value is whole (as System.Text.Json).
        for literal in ["1.5", "1.0", "0.0", "-0.0", "1e3", "1E0", "1e-1", "-2.5e2"] {
            #expect(failureKind(bounds, literal) == "dataCorrupted", "\(literal) into \(bounds)")
        }
        // Other kinds are type mismatches.
        #expect(failureKind(bounds, "true") == "typeMismatch")
        #expect(failureKind(bounds, #""1""#) == "typeMismatch")
        #expect(failureKind(bounds, "[1]") == "typeMismatch")
        #expect(failureKind(bounds, "null") == "valueNotFound")
    }

    @Test func integerErrorsSayWhy() {
        #expect(CodingCheck.failure(UInt8.self, "256")?.message == "Number 256 does not fit in UInt8.")
        #expect(CodingCheck.failure(UInt8.self, "-1")?.message == "Number -1 does not fit in UInt8.")
        #expect(
            CodingCheck.failure(Int.self, "1.5")?.message
                == "Number 1.5 is not an integer literal; Int takes no fraction or exponent.")
        // A huge literal is quoted only in part.
        let huge = String(repeating: "9", count: 10_000)
        let message = CodingCheck.failure(Int.self, huge)?.message ?? ""
        #expect(message.count < 120 && message.hasSuffix("… does not fit in Int."))
        #expect(
            CodingCheck.failure([Int16].self, "[1,40000]")
                == CodingCheck.Failure(kind: "dataCorrupted", path: ["Index 1"]))
    }

    @Test func integersInAllContainerKinds() throws {
        // Keyed, unkeyed and single-value containers each have their own typed overloads.
        struct All: Codable, Equatable {
            var a: Int8, b: Int16, c: Int32, d: Int64, e: UInt8, f: UInt16, g: UInt32, h: UInt64, i: UInt, j: Int
            var k: Int128, l: UInt128
        }
        let all = All(
            a: .min, b: .min, c: .min, d: .min, e: .max, f: .max, g: .max, h: .max, i: .max, j: .min, k: .min, l: .max)
        #expect(try CodingCheck.decode(All.self, CodingCheck.encode(all)) == all)
        #expect(try CodingCheck.decode([UInt64].self, "[0,18446744073709551615]") == [0, .max])
        #expect(try CodingCheck.decode([Int8?].self, "[-128,null,127]") == [-128, nil, 127])
        #expect(try CodingCheck.encode([Int8.min, 0, Int8.max]) == "[-128,0,127]")
        #expect(try CodingCheck.encode(["x": UInt64.max]) == #"{"x":18446744073709551615}"#)
        #expect(try CodingCheck.encode(Int128.min) == "-170141183460469231731687303715884105728")
        #expect(try CodingCheck.decode(UnkeyedInts.self, "[-1,2,-3,4,-5,6,-7,8,-9,10,-11,12]") == UnkeyedInts())
        #expect(
            CodingCheck.failure(UnkeyedInts.self, "[-1,2,-3,4,-5,6,-7,8,-9,10,-11,1.0]")
                == CodingCheck.Failure(kind: "dataCorrupted", path: ["Index 11"]))
    }

    @Test func doubleEdgeCases() throws {
        // -0.0 keeps its sign both ways.
        #expect(try CodingCheck.encode(-0.0) == "-0.0")
        let negativeZero = try CodingCheck.decode(Double.self, "-0.0")
        #expect(negativeZero == 0 && negativeZero.sign == .minus)
        #expect(try CodingCheck.decode(Double.self, "-0").sign == .minus)
        // The smallest subnormal and the largest finite value survive exactly.
        #expect(try CodingCheck.encode(Double.leastNonzeroMagnitude) == "5e-324")
        #expect(try CodingCheck.decode(Double.self, "5e-324") == .leastNonzeroMagnitude)
        #expect(try CodingCheck.encode(Double.greatestFiniteMagnitude) == "1.7976931348623157e+308")
        #expect(try CodingCheck.decode(Double.self, "1.7976931348623157e308") == .greatestFiniteMagnitude)
        #expect(try CodingCheck.decode(Double.self, "-1.7976931348623157e308") == -.greatestFiniteMagnitude)
        // Shortest forms, all valid JSON.
        #expect(try CodingCheck.encode([0.1, 1.0, 1e20, 1e-5, 123.456, -2.5]) == "[0.1,1.0,1e+20,1e-05,123.456,-2.5]")
        // Any number literal reads as a Double, integers included; underflow goes to zero as in System.Text.Json.
        #expect(
            try CodingCheck.decode([Double].self, "[1,1E2,-3e-2,123456789012345678901234567890,1e-400]") == [
                1, 100, -0.03, 1.2345678901234568e29, 0,
            ])
        // Beyond the range: rejected, not infinity.
        #expect(CodingCheck.failure(Double.self, "1.8e308")?.kind == "dataCorrupted")
        #expect(CodingCheck.failure(Double.self, "-1e309")?.kind == "dataCorrupted")
        // Non-finite values have no JSON form.
        #expect(CodingCheck.rejectsEncoding(Double.infinity))
        #expect(CodingCheck.rejectsEncoding(-Double.infinity))
        #expect(CodingCheck.rejectsEncoding(Double.nan))
        #expect(CodingCheck.rejectsEncoding([1, Double.infinity]))
        #expect(CodingCheck.rejectsEncoding(["x": Double.nan]))
        #expect(CodingCheck.rejectsEncoding(WithDouble(value: .infinity)))
        #expect(CodingCheck.rejectsEncoding(Float.nan))
        #expect(CodingCheck.failure(Double.self, #""NaN""#)?.kind == "typeMismatch")
    }

    @Test func nonFiniteEncodingErrorHasThePath() {
        do {
            _ = try JSONValueEncoder.encode(["list": [1.0, 2.0, .infinity]])
            Issue.record("infinity encoded")
        } catch EncodingError.invalidValue(_, let context) {
            #expect(context.codingPath.map(\.stringValue) == ["list", "Index 2"])
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func floatEdgeCases() throws {
        #expect(try CodingCheck.encode(Float(0.1)) == "0.1")  // Float's own shortest form, not 0.10000000149011612
        #expect(try CodingCheck.decode(Float.self, "0.1") == Float(0.1))
        #expect(try CodingCheck.decode(Float.self, "3.4028235e38") == .greatestFiniteMagnitude)
        #expect(try CodingCheck.decode(Float.self, "1e-45") == .leastNonzeroMagnitude)
        #expect(CodingCheck.failure(Float.self, "3.5e38")?.kind == "dataCorrupted")
        #expect(try CodingCheck.decode(Double.self, "3.5e38") == 3.5e38)
        #expect(try CodingCheck.decode(WithFloat.self, #"{"f":16777217}"#).f == 16_777_216)  // rounds to nearest
    }

    @Test func randomDoublesRoundTripBitForBit() throws {
        // Every finite Double's text must be a JSON number (the strict parser accepts it) that reads back exactly.
        var generator = SplitMix64(seed: 0x5EED)
        var checked = 0
        while checked < 20_000 {
            let value = Double(bitPattern: generator.next())
            guard value.isFinite else { continue }
            let text = try CodingCheck.encode(value)
            let parsed = try JSONParser.parse(text)
            let back = try JSONValueDecoder.decode(Double.self, from: parsed)
            #expect(back.bitPattern == value.bitPattern, "\(text)")
            checked += 1
        }
    }

    @Test func booleansNumbersAndStringsStayApart() {
        #expect(CodingCheck.failure(Int.self, "true") == CodingCheck.Failure(kind: "typeMismatch", path: []))
        #expect(CodingCheck.failure(Int.self, "false")?.kind == "typeMismatch")
        #expect(CodingCheck.failure(Bool.self, "1") == CodingCheck.Failure(kind: "typeMismatch", path: []))
        #expect(CodingCheck.failure(Bool.self, "0")?.kind == "typeMismatch")
        #expect(CodingCheck.failure(Bool.self, #""true""#)?.kind == "typeMismatch")
        #expect(CodingCheck.failure(Double.self, "true")?.kind == "typeMismatch")
        #expect(CodingCheck.failure(Double.self, #""1.5""#)?.kind == "typeMismatch")
        #expect(CodingCheck.failure(String.self, "1")?.kind == "typeMismatch")
        #expect(CodingCheck.failure(String.self, "false")?.kind == "typeMismatch")
        #expect(
            CodingCheck.failure(WithBool.self, #"{"flag":1}"#)
                == CodingCheck.Failure(kind: "typeMismatch", path: ["flag"]))
        #expect(
            CodingCheck.failure([Bool].self, "[true,0]") == CodingCheck.Failure(kind: "typeMismatch", path: ["Index 1"])
        )
        #expect(
            CodingCheck.failure([Int].self, "[1,true]") == CodingCheck.Failure(kind: "typeMismatch", path: ["Index 1"]))
    }

    @Test func exactIntegerReader() throws {
        // The literal reader on its own, including inputs the parser would never hand it.
        #expect(try JSONNumber.exactInteger("-128", as: Int8.self) == -128)
        #expect(throws: JSONNumber.ExactFailure.outOfRange) { try JSONNumber.exactInteger("-129", as: Int8.self) }
        #expect(throws: JSONNumber.ExactFailure.notAnInteger) {
            try JSONNumber.exactInteger("99999999999999999999.5", as: Int8.self)
        }
        #expect(throws: JSONNumber.ExactFailure.malformed) { try JSONNumber.exactInteger("-", as: Int.self) }
        #expect(throws: JSONNumber.ExactFailure.malformed) { try JSONNumber.exactInteger("", as: Int.self) }
        #expect(throws: JSONNumber.ExactFailure.malformed) { try JSONNumber.exactInteger("1x", as: Int.self) }
        #expect(throws: JSONNumber.ExactFailure.malformed) {
            try JSONNumber.nearestFloatingPoint("inf", as: Double.self)
        }
        #expect(throws: JSONNumber.ExactFailure.malformed) {
            try JSONNumber.nearestFloatingPoint("nan", as: Double.self)
        }
        #expect(throws: JSONNumber.ExactFailure.malformed) {
            try JSONNumber.nearestFloatingPoint("0x10", as: Double.self)
        }
        #expect(throws: JSONNumber.ExactFailure.malformed) {
            try JSONNumber.nearestFloatingPoint(".5", as: Double.self)
        }
        #expect(throws: JSONNumber.ExactFailure.malformed) { try JSONNumber.nearestFloatingPoint("", as: Double.self) }
        // A hand-built JSONValue with a non-JSON literal is refused, not read as infinity.
        #expect(throws: DecodingError.self) { try JSONValueDecoder.decode(Double.self, from: .number("infinity")) }
    }
}

private struct WithDouble: Codable { var value: Double }
private struct WithFloat: Codable { var f: Float }
private struct WithBool: Codable { var flag: Bool }

/// Twelve integers of every width read through an unkeyed container's typed overloads.
private struct UnkeyedInts: Decodable, Equatable {
    var values: [String] = ["-1", "2", "-3", "4", "-5", "6", "-7", "8", "-9", "10", "-11", "12"]
    init() {}
    init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        values = [
            String(try c.decode(Int.self)), String(try c.decode(UInt.self)), String(try c.decode(Int8.self)),
            String(try c.decode(UInt8.self)), String(try c.decode(Int16.self)), String(try c.decode(UInt16.self)),
            String(try c.decode(Int32.self)), String(try c.decode(UInt32.self)), String(try c.decode(Int64.self)),
            String(try c.decode(UInt64.self)), String(try c.decode(Int128.self)), String(try c.decode(UInt128.self)),
        ]
    }
}

/// A small deterministic generator (SplitMix64) so the random test is repeatable.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
