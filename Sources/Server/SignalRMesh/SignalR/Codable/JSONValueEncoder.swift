// Encoding `Encodable` values into a JSONValue (or straight to JSON bytes), without Foundation's JSONEncoder.

/// Encodes any `Encodable` type to a ``JSONValue`` or to compact JSON bytes.
///
/// - Object members come out in the order the type encodes them (declaration order for synthesised `Codable`).
///   Encoding the same key twice in one container keeps the first position and the last value.
/// - `nil` optionals: a property encoded with `encodeIfPresent` (what synthesised `Codable` does) is left out; an
///   optional element of an array, or an explicit `encodeNil`, is written as `null`.
/// - `[String: T]` becomes an object; `[Int: T]` becomes an object whose member names are the decimal keys
///   (`{"1":…}`), as the standard library's `Dictionary` encoding asks for; other key types become arrays of
///   alternating keys and values (again the standard library's choice).
/// - Integers are written in full; `Double` and `Float` in Swift's shortest round-trip form (`0.1`, `1e-05`,
///   `1e+20`, `-0.0`), which is always a valid JSON number. NaN and infinities have no JSON form:
///   `EncodingError.invalidValue`.
/// - ``AnyJSON`` is written exactly as it holds it (member order, duplicates and number literals kept).
/// - A value that encodes nothing at all becomes `{}`.
/// - Misusing the container API (asking for a keyed container after encoding a single value, encoding two single
///   values, …) is a programming error that Foundation traps on; here it is an `EncodingError.invalidValue`
///   thrown by ``encode(_:userInfo:maxDepth:)``, so a bad type never brings the process down.
struct JSONValueEncoder {
    /// How many non-scalar values may nest inside one another (the top-level value counts as one), like
    /// System.Text.Json's `MaxDepth` and our parser's default: output that the other side accepts, and a bound on
    /// the recursion of self-referential types.
    static var defaultMaxDepth: Int { 64 }

    /// Encodes `value`.
    /// - Parameters:
    ///   - userInfo: handed to the types being encoded as `Encoder.userInfo`.
    ///   - maxDepth: see ``defaultMaxDepth``.
    /// - Throws: `EncodingError.invalidValue` for NaN/infinite floating point, nesting beyond `maxDepth`, or a
    ///   misused container API; any error the value's `encode(to:)` throws.
    static func encode<T: Encodable>(
        _ value: T, userInfo: [CodingUserInfoKey: any Sendable] = [:], maxDepth: Int = defaultMaxDepth
    ) throws -> JSONValue {
        let info: [CodingUserInfoKey: Any] = userInfo.isEmpty ? [:] : userInfo.mapValues { $0 }
        let context = JSONEncodingContext(userInfo: info, maxDepth: maxDepth)
        let encoder = JSONValueEncoderImpl(context: context, parent: nil, key: nil)
        let result = try encoder.encodeTopLevel(value)
        if let misuse = context.misuse { throw misuse }
        return result
    }

    /// Appends the compact JSON text of `value` to `out`. On error `out` is left as it was.
    /// - Throws: as ``encode(_:userInfo:maxDepth:)``.
    static func write<T: Encodable>(
        _ value: T, into out: inout [UInt8], userInfo: [CodingUserInfoKey: any Sendable] = [:],
        maxDepth: Int = defaultMaxDepth
    ) throws {
        let json = try encode(value, userInfo: userInfo, maxDepth: maxDepth)
        JSONWriter.write(json, into: &out)
    }
}
