import Testing

@testable import SignalRMesh

// Round trips through JSONValueEncoder/JSONValueDecoder, container API corners, errors and their coding paths.
// Numbers are in JSONValueCodingNumberTests, AnyJSON in JSONValueCodingAnyJSONTests.

// MARK: - Helpers shared by the JSONValueCoding suites

/// Test helpers for JSONValueEncoder/JSONValueDecoder (a namespace, so the names don't clash across the target).
enum CodingCheck {
    /// Parses `text` strictly and decodes a `T` from it.
    static func decode<T: Decodable>(
        _ type: T.Type, _ text: String, userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) throws -> T {
        try JSONValueDecoder.decode(type, from: JSONParser.parse(text), userInfo: userInfo)
    }

    /// The compact JSON text `JSONValueEncoder.write` produces for `value`.
    static func encode<T: Encodable>(_ value: T, maxDepth: Int = JSONValueEncoder.defaultMaxDepth) throws -> String {
        var out: [UInt8] = []
        try JSONValueEncoder.write(value, into: &out, maxDepth: maxDepth)
        return String(decoding: out, as: UTF8.self)
    }

    /// A `DecodingError` reduced to what tests compare: its case (with the key for `keyNotFound`) and coding path.
    struct Failure: Equatable, CustomStringConvertible {
        var kind: String
        var path: [String]
        var message: String

        /// What a test expects (the message is not compared).
        init(kind: String, path: [String]) {
            (self.kind, self.path, self.message) = (kind, path, "")
        }

        init(_ error: DecodingError) {
            switch error {
            case .typeMismatch(_, let c):
                (kind, path, message) = ("typeMismatch", c.codingPath.map(\.stringValue), c.debugDescription)
            case .valueNotFound(_, let c):
                (kind, path, message) = ("valueNotFound", c.codingPath.map(\.stringValue), c.debugDescription)
            case .keyNotFound(let key, let c):
                (kind, path, message) = (
                    "keyNotFound:\(key.stringValue)", c.codingPath.map(\.stringValue), c.debugDescription
                )
            case .dataCorrupted(let c):
                (kind, path, message) = ("dataCorrupted", c.codingPath.map(\.stringValue), c.debugDescription)
            @unknown default: (kind, path, message) = ("unknown", [], "")
            }
        }

        static func == (a: Failure, b: Failure) -> Bool { a.kind == b.kind && a.path == b.path }
        var description: String { "\(kind) at \(path): \(message)" }
    }

    /// The failure decoding `text` as `T` gives; records an issue (and returns nil) if it decodes or throws something
    /// other than a `DecodingError`.
    static func failure<T: Decodable>(
        _ type: T.Type, _ text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Failure? {
        do {
            let value = try CodingCheck.decode(type, text)
            Issue.record("\(text) decoded as \(T.self) (\(value)) but should fail", sourceLocation: sourceLocation)
        } catch let error as DecodingError {
            return Failure(error)
        } catch {
            Issue.record("\(text): expected a DecodingError, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    /// True when encoding `value` throws `EncodingError.invalidValue`.
    static func rejectsEncoding<T: Encodable>(_ value: T) -> Bool {
        do {
            _ = try JSONValueEncoder.encode(value)
            return false
        } catch EncodingError.invalidValue {
            return true
        } catch {
            return false
        }
    }
}

// MARK: - Model types

private enum Color: String, Codable, Equatable, CodingKeyRepresentable { case red, green, blue }
private enum Priority: Int, Codable, Equatable {
    case low = 1
    case high = 9
}

private enum Shape: Codable, Equatable {
    case circle(radius: Double)
    case rectangle(width: Int, height: Int)
    case point
}

private struct Address: Codable, Equatable {
    var street: String
    var zip: String?
}

private struct Person: Codable, Equatable {
    var name: String
    var age: Int
    var color: Color
    var priority: Priority
    var address: Address?
    var tags: [String]
    var scores: [String: Double]
    var byId: [Int: String]
    var matrix: [[Int]]
    var maybe: [Int?]
    var homes: [Address]
    var shape: Shape
    var nickname: String?
}

private struct Pair: Codable, Equatable {
    var a: Int
    var b: Int
}

private struct Items: Codable, Equatable {
    var items: [Pair]
}

private struct Outer: Codable, Equatable {
    var inner: Pair
}

private struct Nothing: Codable, Equatable {}

// MARK: - Round trips

@Suite struct JSONValueCodingRoundTripTests {
    fileprivate static let person = Person(
        name: "Ann", age: 41, color: .green, priority: .high, address: Address(street: "1 Main St", zip: nil),
        tags: ["a", "", "ü\u{0}\""], scores: ["math": 1.5], byId: [7: "seven"], matrix: [[1, 2], [], [3]],
        maybe: [1, nil, 3], homes: [Address(street: "x", zip: "123")], shape: .rectangle(width: 2, height: 3),
        nickname: nil)

    @Test func nestedStructRoundTripsAndKeepsDeclarationOrder() throws {
        let text = try CodingCheck.encode(Self.person)
        #expect(
            text
                == #"{"name":"Ann","age":41,"color":"green","priority":9,"address":{"street":"1 Main St"},"tags":["a","","ü\u0000\""],"#
                + #""scores":{"math":1.5},"byId":{"7":"seven"},"matrix":[[1,2],[],[3]],"maybe":[1,null,3],"#
                + #""homes":[{"street":"x","zip":"123"}],"shape":{"rectangle":{"width":2,"height":3}}}"#)
        #expect(try CodingCheck.decode(Person.self, text) == Self.person)
    }

    @Test func enumsWithAssociatedValues() throws {
        for shape in [Shape.circle(radius: 0.5), .rectangle(width: -1, height: 0), .point] {
            #expect(try CodingCheck.decode(Shape.self, CodingCheck.encode(shape)) == shape)
        }
        #expect(try CodingCheck.encode(Shape.point) == #"{"point":{}}"#)
        #expect(try CodingCheck.encode(Shape.circle(radius: 2)) == #"{"circle":{"radius":2.0}}"#)
    }

    @Test func rawValueEnumsRejectUnknownCases() throws {
        #expect(try CodingCheck.decode([Color].self, #"["red","blue"]"#) == [.red, .blue])
        #expect(try CodingCheck.decode(Priority.self, "1") == .low)
        #expect(CodingCheck.failure(Color.self, #""purple""#)?.kind == "dataCorrupted")
        #expect(CodingCheck.failure(Priority.self, "2")?.kind == "dataCorrupted")
        #expect(CodingCheck.failure(Priority.self, #""1""#)?.kind == "typeMismatch")
    }

    @Test func optionals() throws {
        // Missing and null optional members both decode as nil; nil members are left out on encoding.
        #expect(try CodingCheck.decode(Address.self, #"{"street":"s"}"#) == Address(street: "s", zip: nil))
        #expect(try CodingCheck.decode(Address.self, #"{"street":"s","zip":null}"#) == Address(street: "s", zip: nil))
        #expect(try CodingCheck.encode(Address(street: "s", zip: nil)) == #"{"street":"s"}"#)
        // Optionals in arrays are nulls, both ways; top-level nil is null.
        #expect(try CodingCheck.encode([nil, 2, nil] as [Int?]) == "[null,2,null]")
        #expect(try CodingCheck.decode([Int?].self, "[null,2,null]") == [nil, 2, nil])
        #expect(try CodingCheck.encode(Int?.none) == "null")
        #expect(try CodingCheck.decode(Int?.self, "null") == nil)
        #expect(try CodingCheck.decode(Int?.self, "5") == 5)
        #expect(try CodingCheck.decode([String: Int?].self, #"{"a":null,"b":1}"#) == ["a": nil, "b": 1])
    }

    @Test func dictionaries() throws {
        #expect(try CodingCheck.encode(["k": [1, 2]]) == #"{"k":[1,2]}"#)
        #expect(try CodingCheck.encode([-3: true]) == #"{"-3":true}"#)
        #expect(try CodingCheck.decode([Int: Bool].self, #"{"-3":true,"4":false}"#) == [-3: true, 4: false])
        #expect(CodingCheck.failure([Int: Bool].self, #"{"x":true}"#)?.kind == "typeMismatch")
        // CodingKeyRepresentable keys (String raw values) make objects too.
        #expect(try CodingCheck.encode([Color.red: 1]) == #"{"red":1}"#)
        #expect(try CodingCheck.decode([Color: Int].self, #"{"blue":2}"#) == [.blue: 2])
        // Large dictionaries (past the member index threshold) round-trip, both ways.
        var big: [String: Int] = [:]
        for i in 0..<500 { big["key\(i)"] = i }
        #expect(try CodingCheck.decode([String: Int].self, CodingCheck.encode(big)) == big)
        // A repeated member: the last one counts, for dictionaries as for structs.
        #expect(try CodingCheck.decode([String: Int].self, #"{"a":1,"b":2,"a":3}"#) == ["a": 3, "b": 2])
        #expect(try CodingCheck.decode(Pair.self, #"{"a":1,"b":2,"a":3}"#) == Pair(a: 3, b: 2))
    }

    @Test func dictionaryWithManyDuplicateMembersUsesTheLastOne() throws {
        // Over the index threshold: the indexed lookup must also pick the last duplicate.
        var text = "{"
        for i in 0..<40 { text += #""k\#(i % 5)":\#(i),"# }
        text += #""end":0}"#
        let decoded = try CodingCheck.decode([String: Int].self, text)
        #expect(decoded == ["k0": 35, "k1": 36, "k2": 37, "k3": 38, "k4": 39, "end": 0])
    }

    @Test func topLevelScalarsAndEmptyValues() throws {
        #expect(try CodingCheck.encode("x\n") == #""x\n""#)
        #expect(try CodingCheck.encode(true) == "true")
        #expect(try CodingCheck.encode(-12) == "-12")
        #expect(try CodingCheck.encode([Int]()) == "[]")
        #expect(try CodingCheck.encode([String: Int]()) == "{}")
        #expect(try CodingCheck.encode(Nothing()) == "{}")
        #expect(try CodingCheck.decode(Nothing.self, #"{"anything":[1]}"#) == Nothing())
        #expect(try CodingCheck.decode(String.self, #""é\u00e9""#) == "éé")
        #expect(try JSONValueEncoder.encode(Pair(a: 1, b: 2)) == .object([("a", 1), ("b", 2)]))
    }

    @Test func unknownMembersAreIgnored() throws {
        let text = #"{"x":{"deep":[1,{"y":null}]},"a":1,"zzz":"?","b":2,"c":true}"#
        #expect(try CodingCheck.decode(Pair.self, text) == Pair(a: 1, b: 2))
    }

    @Test func classHierarchyWithSuperEncoderAndSharedContainer() throws {
        let dog = Dog(name: "Rex", breed: "lab")
        #expect(try CodingCheck.encode(dog) == #"{"breed":"lab","super":{"name":"Rex"}}"#)
        let back = try CodingCheck.decode(Dog.self, CodingCheck.encode(dog))
        #expect(back.name == "Rex" && back.breed == "lab")

        let cat = Cat(name: "Tom", lives: 9)
        #expect(try CodingCheck.encode(cat) == #"{"lives":9,"name":"Tom"}"#)
        let cat2 = try CodingCheck.decode(Cat.self, #"{"name":"Tom","lives":9}"#)
        #expect(cat2.name == "Tom" && cat2.lives == 9)
        // With no "super" member, superDecoder reads null, which Animal rejects with a path into "super".
        #expect(
            CodingCheck.failure(Dog.self, #"{"breed":"x"}"#)
                == CodingCheck.Failure(kind: "valueNotFound", path: ["super"]))
    }

    @Test func nestedContainersKeepTheirPosition() throws {
        // The nested containers are filled after later siblings were written; they stay where they were created.
        #expect(
            try CodingCheck.encode(Manual())
                == #"{"first":{"list":[true,{"deep":"d"},[]],"x":1},"second":2,"items":[[5],{"k":null}],"last":{}}"#)
        #expect(try CodingCheck.decode(Manual.self, CodingCheck.encode(Manual())) == Manual())
    }

    @Test func reencodingAKeyKeepsItsPositionAndTakesTheLastValue() throws {
        #expect(try CodingCheck.encode(Twice()) == #"{"a":3,"b":2}"#)
        // Also past the member index threshold.
        let text = try CodingCheck.encode(TwiceMany())
        let parsed = try JSONParser.parse(text)
        #expect(parsed.objectValue?.count == 20)
        #expect(parsed["k0"] == .number("100"))
        #expect(parsed.objectValue?.first?.0 == "k0")
    }

    @Test func userInfoReachesTheTypes() throws {
        let key = CodingUserInfoKey(rawValue: "scale")!
        #expect(try CodingCheck.decode(Scaled.self, "4", userInfo: [key: 10]) == Scaled(value: 40))
        #expect(try JSONValueEncoder.encode(Scaled(value: 40), userInfo: [key: 10]) == .number("4"))
    }

    @Test func containerMisuseIsAnErrorNotACrash() {
        #expect(CodingCheck.rejectsEncoding(Misuse(mode: 0)))  // two single values
        #expect(CodingCheck.rejectsEncoding(Misuse(mode: 1)))  // keyed after single
        #expect(CodingCheck.rejectsEncoding(Misuse(mode: 2)))  // unkeyed after keyed
        #expect(!CodingCheck.rejectsEncoding(Misuse(mode: 3)))  // keyed twice (shared container) is fine
    }

    @Test func nestingIsBounded() throws {
        func chain(_ n: Int) -> Link {
            var link = Link(next: nil)
            for _ in 1..<n { link = Link(next: link) }
            return link
        }
        #expect(try CodingCheck.encode(chain(64)).hasPrefix(#"{"next":{"next":"#))
        #expect(CodingCheck.rejectsEncoding(chain(65)))
        // maxDepth is adjustable.
        #expect(throws: EncodingError.self) { try CodingCheck.encode(chain(3), maxDepth: 2) }
        #expect(try CodingCheck.encode(chain(3), maxDepth: 3) == #"{"next":{"next":{}}}"#)
        // Deep arrays count too: 64 levels pass, 65 don't. Scalars inside do not add a level.
        func arrays(_ n: Int) -> AnyEncodableArray { AnyEncodableArray(depth: n) }
        #expect(!CodingCheck.rejectsEncoding(arrays(64)))
        #expect(CodingCheck.rejectsEncoding(arrays(65)))
    }

    @Test func writeLeavesTheBufferAloneOnError() {
        var out: [UInt8] = [1, 2]
        #expect(throws: EncodingError.self) { try JSONValueEncoder.write([1.0, .nan], into: &out) }
        #expect(out == [1, 2])
        #expect(throws: Never.self) { try JSONValueEncoder.write([1.5], into: &out) }
        #expect(out == [1, 2] + Array("[1.5]".utf8))
    }
}

// MARK: - Errors and coding paths

@Suite struct JSONValueCodingErrorTests {
    @Test func missingKeyNamesTheKeyAndTheContainerPath() {
        #expect(CodingCheck.failure(Pair.self, #"{"a":1}"#) == CodingCheck.Failure(kind: "keyNotFound:b", path: []))
        #expect(
            CodingCheck.failure(Outer.self, #"{"inner":{"b":1}}"#)
                == CodingCheck.Failure(kind: "keyNotFound:a", path: ["inner"]))
        #expect(
            CodingCheck.failure(Items.self, #"{"items":[{"a":1,"b":2},{"a":1}]}"#)
                == CodingCheck.Failure(kind: "keyNotFound:b", path: ["items", "Index 1"]))
        #expect(CodingCheck.failure(Person.self, "{}")?.kind == "keyNotFound:name")
    }

    @Test func wrongTypesCarryTheFullPath() {
        #expect(
            CodingCheck.failure(Items.self, #"{"items":[{"a":1,"b":2},{"a":1,"b":"2"}]}"#)
                == CodingCheck.Failure(kind: "typeMismatch", path: ["items", "Index 1", "b"]))
        #expect(
            CodingCheck.failure(Items.self, #"{"items":{"a":1}}"#)
                == CodingCheck.Failure(kind: "typeMismatch", path: ["items"]))
        #expect(
            CodingCheck.failure(Outer.self, #"{"inner":[1,2]}"#)
                == CodingCheck.Failure(kind: "typeMismatch", path: ["inner"]))
        #expect(
            CodingCheck.failure([[Int]].self, "[[1],[2,false]]")
                == CodingCheck.Failure(kind: "typeMismatch", path: ["Index 1", "Index 1"]))
        #expect(
            CodingCheck.failure([String: Pair].self, #"{"p":{"a":1,"b":1.5}}"#)
                == CodingCheck.Failure(kind: "dataCorrupted", path: ["p", "b"]))
        #expect(CodingCheck.failure(Pair.self, "[1,2]")?.message == "Expected an object but found an array instead.")
    }

    @Test func nullIntoANonOptionalIsRejected() {
        #expect(
            CodingCheck.failure(Pair.self, #"{"a":null,"b":1}"#)
                == CodingCheck.Failure(kind: "valueNotFound", path: ["a"]))
        #expect(
            CodingCheck.failure(Outer.self, #"{"inner":null}"#)
                == CodingCheck.Failure(kind: "valueNotFound", path: ["inner"]))
        #expect(
            CodingCheck.failure([Int].self, "[1,null]") == CodingCheck.Failure(kind: "valueNotFound", path: ["Index 1"])
        )
        #expect(CodingCheck.failure(String.self, "null") == CodingCheck.Failure(kind: "valueNotFound", path: []))
        #expect(CodingCheck.failure([String].self, "null")?.kind == "valueNotFound")
        #expect(CodingCheck.failure(Color.self, "null")?.kind == "valueNotFound")
    }

    @Test func tooFewArrayElements() {
        // A tuple-like type reading three elements from two.
        #expect(
            CodingCheck.failure(Triple.self, "[1,2]") == CodingCheck.Failure(kind: "valueNotFound", path: ["Index 2"]))
        #expect(CodingCheck.failure(Triple.self, "[1,2]")?.message == "Unkeyed container is at end.")
    }

    @Test func messagesAreReadable() {
        #expect(CodingCheck.failure(Int.self, "true")?.message == "Expected a number but found a boolean instead.")
        #expect(CodingCheck.failure(Bool.self, "1")?.message == "Expected true or false but found a number instead.")
        #expect(CodingCheck.failure(String.self, "null")?.message == "Expected a string but found null instead.")
        #expect(CodingCheck.failure(Pair.self, #"{"a":1}"#)?.message == #"No value associated with key "b"."#)
    }
}

// MARK: - Types with hand-written coding

private class Animal: Codable {
    var name: String
    init(name: String) { self.name = name }
}

/// Encodes its superclass through `superEncoder()` (the `"super"` member).
private final class Dog: Animal {
    var breed: String
    enum CodingKeys: String, CodingKey { case breed }

    init(name: String, breed: String) {
        self.breed = breed
        super.init(name: name)
    }

    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        breed = try container.decode(String.self, forKey: .breed)
        try super.init(from: container.superDecoder())
    }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(breed, forKey: .breed)
        try super.encode(to: container.superEncoder())
    }
}

/// Encodes its superclass into the same container (the same encoder).
private final class Cat: Animal {
    var lives: Int
    enum CodingKeys: String, CodingKey { case lives }

    init(name: String, lives: Int) {
        self.lives = lives
        super.init(name: name)
    }

    required init(from decoder: any Decoder) throws {
        lives = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .lives)
        try super.init(from: decoder)
    }

    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lives, forKey: .lives)
        try super.encode(to: encoder)
    }
}

/// Nested keyed/unkeyed containers, written to out of order.
private struct Manual: Codable, Equatable {
    enum Keys: String, CodingKey { case first, second, items, last, x, list, deep, k }

    init() {}

    func encode(to encoder: any Encoder) throws {
        var root = encoder.container(keyedBy: Keys.self)
        var first = root.nestedContainer(keyedBy: Keys.self, forKey: .first)
        try root.encode(2, forKey: .second)
        var items = root.nestedUnkeyedContainer(forKey: .items)
        var list = first.nestedUnkeyedContainer(forKey: .list)
        try first.encode(1, forKey: .x)
        try list.encode(true)
        var deep = list.nestedContainer(keyedBy: Keys.self)
        _ = list.nestedUnkeyedContainer()
        try deep.encode("d", forKey: .deep)
        var inner = items.nestedUnkeyedContainer()
        var object = items.nestedContainer(keyedBy: Keys.self)
        try object.encodeNil(forKey: .k)
        try inner.encode(5)
        _ = root.superEncoder(forKey: .last)
    }

    init(from decoder: any Decoder) throws {
        let root = try decoder.container(keyedBy: Keys.self)
        let first = try root.nestedContainer(keyedBy: Keys.self, forKey: .first)
        guard try first.decode(Int.self, forKey: .x) == 1, try root.decode(Int.self, forKey: .second) == 2 else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "bad"))
        }
        var list = try first.nestedUnkeyedContainer(forKey: .list)
        guard try list.decode(Bool.self),
            try list.nestedContainer(keyedBy: Keys.self).decode(String.self, forKey: .deep) == "d",
            try list.nestedUnkeyedContainer().isAtEnd, list.isAtEnd
        else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "bad list")) }
        var items = try root.nestedUnkeyedContainer(forKey: .items)
        var inner = try items.nestedUnkeyedContainer()
        guard try inner.decode(Int.self) == 5, try items.nestedContainer(keyedBy: Keys.self).decodeNil(forKey: .k)
        else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "bad items"))
        }
        _ = try root.superDecoder(forKey: .last).container(keyedBy: Keys.self)
    }
}

/// Encodes key "a" twice.
private struct Twice: Encodable {
    enum Keys: String, CodingKey { case a, b }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(1, forKey: .a)
        try c.encode(2, forKey: .b)
        try c.encode(3, forKey: .a)
    }
}

/// Twenty keys, then the first one again.
private struct TwiceMany: Encodable {
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: JSONCodingKey.self)
        for i in 0..<20 { try c.encode(i, forKey: JSONCodingKey(stringValue: "k\(i)")) }
        try c.encode(100, forKey: JSONCodingKey(stringValue: "k0"))
    }
}

/// Reads/writes `value` divided/multiplied by the `scale` user-info entry.
private struct Scaled: Codable, Equatable {
    var value: Int
    init(value: Int) { self.value = value }
    static let key = CodingUserInfoKey(rawValue: "scale")!
    init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(Int.self) * (decoder.userInfo[Self.key] as? Int ?? 1)
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value / (encoder.userInfo[Self.key] as? Int ?? 1))
    }
}

/// Misuses the container API in one of several ways.
private struct Misuse: Encodable {
    var mode: Int
    enum Keys: String, CodingKey { case a }
    func encode(to encoder: any Encoder) throws {
        switch mode {
        case 0:
            var c = encoder.singleValueContainer()
            try c.encode(1)
            try c.encode(2)
        case 1:
            var c = encoder.singleValueContainer()
            try c.encode(1)
            var k = encoder.container(keyedBy: Keys.self)
            try k.encode(1, forKey: .a)
        case 2:
            var k = encoder.container(keyedBy: Keys.self)
            try k.encode(1, forKey: .a)
            var u = encoder.unkeyedContainer()
            try u.encode(2)
        default:
            var k = encoder.container(keyedBy: Keys.self)
            try k.encode(1, forKey: .a)
            var again = encoder.container(keyedBy: Keys.self)
            try again.encode(2, forKey: .a)
        }
    }
}

/// A self-referential type for the depth limit.
private final class Link: Encodable {
    let next: Link?
    init(next: Link?) { self.next = next }
}

/// `depth` nested arrays around a number: `[[[1]]]` for 3.
private struct AnyEncodableArray: Encodable {
    var depth: Int
    func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        if depth > 1 { try c.encode(AnyEncodableArray(depth: depth - 1)) } else { try c.encode(1) }
    }
}

/// Three integers as an array.
private struct Triple: Decodable {
    var values: [Int]
    init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        values = [try c.decode(Int.self), try c.decode(Int.self), try c.decode(Int.self)]
    }
}
