// Decoding `Decodable` values straight from a parsed JSONValue, without Foundation's JSONDecoder (which would
// re-parse text, allocate far more, and could not see our number literals).

/// Decodes any `Decodable` type from a ``JSONValue``.
///
/// The rules are strict, in the manner of System.Text.Json's defaults:
/// - integers (`Int8`…`Int64`, `UInt8`…`UInt64`, `Int`, `UInt`, `Int128`, `UInt128`) take only an integer literal
///   (`-?digits`): `1.5`, `1.0` and `1e3` are rejected even when whole, values out of the type's range are rejected,
///   and `-0` reads as 0 (also for unsigned types);
/// - `Double` and `Float` take any number literal, rounded to the nearest value; literals too large for the type
///   (that would round to infinity) are rejected; there are no `"NaN"`/`"Infinity"` strings;
/// - `Bool` takes only `true`/`false`, `String` only strings: no conversions between kinds (`1` is not a `Bool`,
///   `"1"` is not an `Int`);
/// - `null` satisfies only optionals (`decodeNil`); a missing member of an optional property is nil; a missing
///   member of a non-optional property is `DecodingError.keyNotFound`;
/// - members the type does not know are ignored; when a member name repeats, the last one counts;
/// - ``AnyJSON`` receives the value as it is (member order, duplicates and number literals kept).
///
/// Every error is a `DecodingError` whose context holds the coding path of the offending value, such as
/// `["items", "Index 2", "count"]`. Nesting depth needs no limit here: ``JSONParser`` has bounded it already.
struct JSONValueDecoder {
    /// Decodes a `T` from `value`.
    /// - Parameter userInfo: handed to the types being decoded as `Decoder.userInfo`.
    /// - Throws: `DecodingError`.
    static func decode<T: Decodable>(
        _ type: T.Type, from value: JSONValue, userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) throws -> T {
        let info: [CodingUserInfoKey: Any] = userInfo.isEmpty ? [:] : userInfo.mapValues { $0 }
        let decoder = JSONValueDecoderImpl(value: value, parent: nil, key: nil, userInfo: info)
        return try decoder.decodeSelf(T.self)
    }
}
