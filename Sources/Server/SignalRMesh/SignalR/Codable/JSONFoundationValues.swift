// The Foundation types whose own Codable form is not what JSON users expect. Foundation's JSONEncoder and
// JSONDecoder special-case them; so do our coders, with the same defaults, so that a model type moved from
// JSONEncoder to a hub method produces the same JSON.

import Foundation

/// JSON forms of `Data`, `URL` and `Decimal`:
/// - `Data` ↔ a Base64 string (standard alphabet, with padding), as JSONEncoder's default and System.Text.Json's
///   `byte[]`; anything else, an array of numbers included, is rejected;
/// - `URL` ↔ its absolute string;
/// - `Decimal` ↔ a number, read from the literal itself (not through `Double`), so `0.1` is exactly 0.1. A literal
///   with more than 38 significant digits is rounded to 38, one outside Decimal's exponent range is rejected; NaN
///   cannot be encoded.
///
/// `Date` keeps its own Codable form (seconds since 2001-01-01 as a number), which is also JSONEncoder's default.
enum JSONFoundationValues {
    /// The value for the types above; nil for any other `T`.
    static func decode<T>(
        _ type: T.Type, from value: JSONValue, at path: @autoclosure () -> [any CodingKey]
    ) throws -> T? {
        if T.self == Data.self {
            let text = try JSONValueDecoderImpl.string(value, at: path())
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: path(), debugDescription: "Expected Base64 text for Data."))
            }
            return data as? T
        }
        if T.self == URL.self {
            let text = try JSONValueDecoderImpl.string(value, at: path())
            guard let url = URL(string: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: "Invalid URL string."))
            }
            return url as? T
        }
        if T.self == Decimal.self {
            guard case .number(let text) = value else {
                throw JSONValueDecoderImpl.mismatch(Decimal.self, "a number", value, path())
            }
            // Decimal(string:) reads the longest prefix it understands ("1x" → 1): only hand it JSON numbers.
            guard JSONNumber.hasNumberAlphabet(text) else {
                throw JSONValueDecoderImpl.numberError(.malformed, text, Decimal.self, path())
            }
            guard let decimal = Decimal(string: text, locale: nil), !decimal.isNaN else {
                throw JSONValueDecoderImpl.numberError(.outOfRange, text, Decimal.self, path())
            }
            return decimal as? T
        }
        return nil
    }

    /// The JSON for the types above; nil for any other value.
    static func encode<T: Encodable>(_ value: T, at path: @autoclosure () -> [any CodingKey]) throws -> JSONValue? {
        if T.self == Data.self, let data = value as? Data { return .string(data.base64EncodedString()) }
        if T.self == URL.self, let url = value as? URL { return .string(url.absoluteString) }
        if T.self == Decimal.self, let decimal = value as? Decimal {
            guard !decimal.isNaN else {
                throw EncodingError.invalidValue(
                    decimal, .init(codingPath: path(), debugDescription: "Decimal NaN has no JSON representation."))
            }
            // Plain decimal notation ("1.5", "-0.0025", "1000"), always a JSON number.
            return .number(decimal.description)
        }
        return nil
    }
}
