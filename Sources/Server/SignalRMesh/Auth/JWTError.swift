/// Why ``JWTValidator`` refused a token.
///
/// Every case maps to HTTP 401 at negotiate and at a WebSocket connect; the cases exist for logs and tests.
/// - Important: No description ever contains the token, any of its segments or any claim value: a log line
///   that quoted them would hand out a working credential. Descriptions name only the failed check.
public enum JWTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The validator has an empty key. Anyone could sign for it, so it accepts nothing.
    case noKey
    /// The token is longer than the validator's limit (in bytes).
    case tooLarge(limit: Int)
    /// Not a compact JWS with a JSON header and a JSON-object payload. The reason is fixed text chosen here,
    /// never taken from the token.
    case malformed(Malformation)
    /// The header's `alg` is missing, not a string, or anything but `HS256` (including `none`).
    case unsupportedAlgorithm
    /// The header lists `crit` extensions (RFC 7515 §4.1.11), none of which this validator implements.
    case unsupportedCriticalHeader
    /// The HMAC-SHA256 of `header.payload` under the key is not the token's signature.
    case badSignature
    /// A time claim (`exp` or `nbf`, named here) is not a finite JSON number.
    case invalidTimeClaim(String)
    /// The token has no `exp` and the validator requires one.
    case missingExpiration
    /// `now >= exp + clockSkew`.
    case expired
    /// `now < nbf - clockSkew`.
    case notYetValid

    /// What part of a token's structure is wrong.
    public enum Malformation: String, Sendable {
        case segmentCount = "not three dot-separated segments"
        case headerEncoding = "header is not unpadded base64url"
        case headerJSON = "header is not a JSON object"
        case payloadEncoding = "payload is not unpadded base64url"
        case payloadJSON = "payload is not a JSON object"
        case signatureEncoding = "signature is not unpadded base64url"
    }

    public var description: String {
        switch self {
        case .noKey: return "no JWT signing key is configured"
        case .tooLarge(let limit): return "token longer than \(limit) bytes"
        case .malformed(let what): return "malformed token: \(what.rawValue)"
        case .unsupportedAlgorithm: return "unsupported JWT algorithm (only HS256 is accepted)"
        case .unsupportedCriticalHeader: return "token has critical header extensions (crit), which are not supported"
        case .badSignature: return "token signature does not match"
        case .invalidTimeClaim(let name): return "token claim \(name) is not a NumericDate"
        case .missingExpiration: return "token has no exp claim"
        case .expired: return "token expired"
        case .notYetValid: return "token not valid yet (nbf)"
        }
    }
}
