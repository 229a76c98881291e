import NetKit

/// Checks HS256 JSON Web Tokens (RFC 7519) in the JWS compact serialization (RFC 7515 §7.1) against one shared key.
///
/// A token is accepted when, in this order:
/// 1. it is at most ``maxTokenBytes`` long;
/// 2. it has exactly three `.`-separated segments, each strict unpadded base64url (see ``Base64URL``);
/// 3. the header is a JSON object whose `alg` is exactly `"HS256"` (`none`, `HS512`, `RS256`, a missing or
///    non-string `alg` are refused: the key is an HMAC secret and nothing else may be tried with it) and that has no
///    `crit` member; `typ` and other members are ignored;
/// 4. the signature equals HMAC-SHA256(key, `header.payload` as sent), compared in constant time;
/// 5. the payload is a JSON object;
/// 6. `exp`, if present, is a number and `now < exp + clockSkew`; `nbf`, if present, is a number and
///    `now >= nbf - clockSkew`. Both are NumericDates: seconds since 1970, integer or fractional.
///
/// `iss`, `aud` and `iat` are not checked. JSON is read with the server's own strict parser.
///
/// ```swift
/// let validator = JWTValidator(key: Array(secret.utf8), clockSkew: 30)
/// let claims = try validator.validate(token)   // throws JWTError
/// let user = claims.userId                      // sub, else nameid
/// ```
/// - Important: The key is the shared HS256 secret. ASP.NET Core apps usually build theirs with
///   `Encoding.UTF8.GetBytes(secret)`, so pass `Array(secret.utf8)` to accept their tokens. Keys shorter than
///   ``minimumKeyCount`` bytes are weak (RFC 7518 §3.2); refusing them is the caller's decision, an empty key
///   makes every token fail with ``JWTError/noKey``.
public struct JWTValidator: Sendable {
    /// The default limit on a token's length: 8 KiB, far more than a header, a few dozen claims and a signature.
    public static let defaultMaxTokenBytes = 8 * 1024

    /// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output, 32 bytes.
    public static let minimumKeyCount = 32

    /// Tolerance, in seconds, on both `exp` and `nbf` for clocks that disagree (never negative).
    public let clockSkew: Double
    /// Tokens longer than this many bytes are refused before any decoding.
    public let maxTokenBytes: Int
    /// Whether a token without `exp` is refused (ASP.NET Core's `RequireExpirationTime`, which defaults to true
    /// there). Off by default here: `exp` is checked when present.
    public let requireExpiration: Bool

    private let key: [UInt8]
    private let now: @Sendable () -> Double

    /// - Parameters:
    ///   - key: the HMAC-SHA256 secret.
    ///   - clockSkew: seconds of tolerance on `exp` and `nbf`; NaN, infinite or negative values count as 0.
    ///   - maxTokenBytes: the longest token accepted (default 8 KiB).
    ///   - requireExpiration: refuse tokens that have no `exp` claim.
    ///   - now: the current time in seconds since 1970 (wall clock by default; tests inject their own).
    public init(
        key: [UInt8], clockSkew: Double = 0, maxTokenBytes: Int = JWTValidator.defaultMaxTokenBytes,
        requireExpiration: Bool = false,
        now: @escaping @Sendable () -> Double = { Double(wallClockMicros()) / 1_000_000 }
    ) {
        self.key = key
        self.clockSkew = clockSkew.isFinite && clockSkew > 0 ? clockSkew : 0
        self.maxTokenBytes = max(0, maxTokenBytes)
        self.requireExpiration = requireExpiration
        self.now = now
    }

    /// Validates `token` (the bare compact JWS, without any `Bearer ` prefix).
    /// - Returns: the payload's claims.
    /// - Throws: ``JWTError`` naming the first check that failed; the error never contains the token.
    public func validate(_ token: String) throws(JWTError) -> JWTClaims {
        if key.isEmpty { throw .noKey }
        // Counting UTF-8 bytes is O(1) for native strings; nothing is copied before the size check.
        guard token.utf8.count <= maxTokenBytes else { throw .tooLarge(limit: maxTokenBytes) }
        let bytes = Array(token.utf8)

        var dots: [Int] = []
        for i in bytes.indices where bytes[i] == UInt8(ascii: ".") {
            dots.append(i)
            if dots.count > 2 { throw .malformed(.segmentCount) }
        }
        guard dots.count == 2 else { throw .malformed(.segmentCount) }
        let headerText = bytes[..<dots[0]]
        let payloadText = bytes[(dots[0] + 1)..<dots[1]]
        let signatureText = bytes[(dots[1] + 1)...]

        // The header decides how to check the signature, so it is read first; the payload only once signed.
        guard !headerText.isEmpty, let headerBytes = Base64URL.decode(headerText) else {
            throw .malformed(.headerEncoding)
        }
        guard let header = try? JSONParser.parse(headerBytes), header.objectValue != nil else {
            throw .malformed(.headerJSON)
        }
        guard header["alg"]?.stringValue == "HS256" else { throw .unsupportedAlgorithm }
        if header["crit"] != nil { throw .unsupportedCriticalHeader }

        guard let signature = Base64URL.decode(signatureText) else { throw .malformed(.signatureEncoding) }
        let expected = HMACSHA256.authenticationCode(key: key, message: Array(bytes[..<dots[1]]))
        guard constantTimeEqual(expected, signature) else { throw .badSignature }

        guard let payloadBytes = Base64URL.decode(payloadText) else { throw .malformed(.payloadEncoding) }
        guard let payload = try? JSONParser.parse(payloadBytes), let members = payload.objectValue else {
            throw .malformed(.payloadJSON)
        }
        var values: [String: JSONValue] = [:]
        for (name, value) in members { values[name] = value }  // a repeated claim keeps its last value

        let time = now()
        if let exp = values["exp"] {
            let expiry = try Self.numericDate(exp, name: "exp")
            // Written so that a NaN clock counts as expired.
            guard time < expiry + clockSkew else { throw .expired }
        } else if requireExpiration {
            throw .missingExpiration
        }
        if let nbf = values["nbf"] {
            let notBefore = try Self.numericDate(nbf, name: "nbf")
            guard time >= notBefore - clockSkew else { throw .notYetValid }
        }
        return JWTClaims(values: values)
    }

    /// A NumericDate claim (RFC 7519 §2): any finite JSON number of seconds.
    private static func numericDate(_ value: JSONValue, name: String) throws(JWTError) -> Double {
        guard let seconds = value.doubleValue, seconds.isFinite else { throw .invalidTimeClaim(name) }
        return seconds
    }
}
