import NetKit

@testable import SignalRMesh

/// `jwt`: `JWTValidator.validate` on tokens built from the input, plus `Base64URL`, `BearerToken.extract` and
/// `BearerToken.redactingAccessToken` on the raw bytes.
///
/// The fuzzer cannot forge an HMAC, so three of the four modes sign what it writes with the harness's key; that is
/// how inputs reach the payload, claims and time checks. Modes (flag bits 0–1):
/// - 0: the payload is the token text itself;
/// - 1: the payload is `<header segment>.<payload segment>` as text; the harness appends the right signature;
/// - 2: the payload, cut at `cut`, is header JSON + claims JSON; the harness base64url-encodes both and signs;
/// - 3: the whole payload is claims JSON under the header `{"alg":"HS256"}`, encoded and signed.
/// Flag bit 2 = `requireExpiration`, bit 3 = a 60 s clock skew. The clock stands still at 1 000 000 000.
///
/// Checks:
/// - every error is one of the fixed cases (so no description can carry any part of the token);
/// - validating twice gives the same result;
/// - an accepted token has two dots, a canonical signature equal to the HMAC of `header.payload`, an HS256 header
///   without `crit`, an object payload whose `exp`/`nbf` hold at the clock; its `userId` is a non-empty
///   `sub`/`nameid`/`nameidentifier` string; with one signature character changed, or under another key, it fails;
/// - signed modes never fail on the signature, and modes 2–3 accept exactly when an independent reading of the
///   two JSON documents says they should;
/// - base64url: what decodes re-encodes to the same text, and any bytes round-trip;
/// - `extract` returns a trimmed, non-empty part of its input, from a `Bearer` header or the query;
/// - redaction is idempotent, changes nothing before the first `?` nor any other parameter, and leaves every
///   `access_token` value the HTTP parser would read as `***`.
enum JWTTarget {
    static let key = Array("fuzz-harness-hs256-key-0123456789".utf8)
    static let now: Double = 1_000_000_000
    static let maxTokenBytes = 2_048

    static func run(_ input: FuzzInput) {
        let mode = Int(input.flags & 0x03)
        let skew: Double = input.flag(3) ? 60 : 0
        let validator = JWTValidator(
            key: key, clockSkew: skew, maxTokenBytes: maxTokenBytes, requireExpiration: input.flag(2), now: { now })

        let token: String
        var documents: (header: [UInt8], payload: [UInt8])? = nil
        switch mode {
        case 0:
            token = String(decoding: input.payload, as: UTF8.self)
        case 1:
            token = signed(String(decoding: input.payload, as: UTF8.self))
        case 2:
            let header = Array(input.payload[..<input.cut]), payload = Array(input.payload[input.cut...])
            documents = (header, payload)
            token = signed(Base64URL.encode(header) + "." + Base64URL.encode(payload))
        default:
            let header = Array(#"{"alg":"HS256"}"#.utf8)
            documents = (header, input.payload)
            token = signed(Base64URL.encode(header) + "." + Base64URL.encode(input.payload))
        }

        let result = Result { () throws(JWTError) in try validator.validate(token) }
        let again = Result { () throws(JWTError) in try validator.validate(token) }
        check(result == again, "validate is not deterministic")
        switch result {
        case .success(let claims):
            checkAccepted(token, claims, validator: validator)
        case .failure(let error):
            check(allowedErrors.contains(error), "unexpected error \(error)")
            if mode != 0 && error != .tooLarge(limit: maxTokenBytes) {
                check(error != .badSignature && error != .malformed(.signatureEncoding), "a signed token failed on its signature")
            }
        }
        if let documents, result != .failure(.tooLarge(limit: maxTokenBytes)) {
            let expected = shouldAccept(header: documents.header, payload: documents.payload, validator: validator)
            let accepted = (try? result.get()) != nil
            check(accepted == expected, "accepted: \(accepted), expected: \(expected) (\(result))")
        }

        checkBase64URL(input.payload)
        let text = String(decoding: input.payload, as: UTF8.self)
        checkExtract(text)
        checkRedaction(text)
    }

    /// `signingInput` + `.` + its signature under the harness key.
    static func signed(_ signingInput: String) -> String {
        signingInput + "." + Base64URL.encode(HMACSHA256.authenticationCode(key: key, message: Array(signingInput.utf8)))
    }

    static let allowedErrors: [JWTError] =
        [.noKey, .tooLarge(limit: maxTokenBytes), .unsupportedAlgorithm, .unsupportedCriticalHeader, .badSignature,
            .invalidTimeClaim("exp"), .invalidTimeClaim("nbf"), .missingExpiration, .expired, .notYetValid]
        + [.segmentCount, .headerEncoding, .headerJSON, .payloadEncoding, .payloadJSON, .signatureEncoding].map {
            JWTError.malformed($0)
        }

    static func checkAccepted(_ token: String, _ claims: JWTClaims, validator: JWTValidator) {
        check(token.utf8.count <= maxTokenBytes, "accepted a token over the limit")
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) }
        check(parts.count == 3, "accepted \(parts.count) segments")
        let mac = HMACSHA256.authenticationCode(key: key, message: parts[0] + [UInt8(ascii: ".")] + parts[1])
        check(Base64URL.encode(mac) == String(decoding: parts[2], as: UTF8.self), "accepted a wrong or non-canonical signature")
        guard let headerBytes = Base64URL.decode(parts[0]), let header = try? JSONParser.parse(headerBytes),
            let payloadBytes = Base64URL.decode(parts[1]), let payload = try? JSONParser.parse(payloadBytes),
            payload.objectValue != nil
        else { fuzzFailure("accepted a token whose segments do not decode to JSON") }
        check(header["alg"] == .string("HS256") && header["crit"] == nil, "accepted header \(header)")
        check(timeClaimsHold(payload, validator: validator), "accepted a token outside its time window: \(payload)")

        if let user = claims.userId {
            check(!user.isEmpty, "empty user id")
            check([payload["sub"], payload["nameid"], payload[JWTClaims.nameIdentifierClaimType]].contains(.string(user)),
                "user id \(user) is none of the identifier claims")
        }
        for name in claims.names { check(payload[name] != nil, "claim \(name) not in the payload") }

        // One changed signature character (the first: it never carries the unused low bits), or another key.
        var forged = parts[2]
        forged[0] = forged[0] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let forgedToken = String(decoding: parts[0] + [UInt8(ascii: ".")] + parts[1] + [UInt8(ascii: ".")] + forged, as: UTF8.self)
        check((try? validator.validate(forgedToken)) == nil, "accepted a changed signature")
        // Not `key + [0]`: HMAC pads short keys with zeros, so that would be the same key.
        let otherKey = JWTValidator(key: [key[0] ^ 1] + key.dropFirst(), maxTokenBytes: maxTokenBytes, now: { now })
        check((try? otherKey.validate(token)) == nil, "accepted under another key")
    }

    /// `exp`/`nbf` as the validator documents them, read independently.
    static func timeClaimsHold(_ payload: JSONValue, validator: JWTValidator) -> Bool {
        if let exp = payload["exp"] {
            guard case .number(let text) = exp, let seconds = Double(text), seconds.isFinite else { return false }
            if !(now < seconds + validator.clockSkew) { return false }
        } else if validator.requireExpiration {
            return false
        }
        if let nbf = payload["nbf"] {
            guard case .number(let text) = nbf, let seconds = Double(text), seconds.isFinite else { return false }
            if now < seconds - validator.clockSkew { return false }
        }
        return true
    }

    /// Whether a token made of these two JSON documents (encoded and signed) should pass.
    static func shouldAccept(header: [UInt8], payload: [UInt8], validator: JWTValidator) -> Bool {
        guard !header.isEmpty, let h = try? JSONParser.parse(header), h.objectValue != nil else { return false }
        guard h["alg"] == .string("HS256"), h["crit"] == nil else { return false }
        guard let p = try? JSONParser.parse(payload), p.objectValue != nil else { return false }
        return timeClaimsHold(p, validator: validator)
    }

    static func checkBase64URL(_ bytes: [UInt8]) {
        if let decoded = Base64URL.decode(bytes) {
            check(Array(Base64URL.encode(decoded).utf8) == bytes, "base64url decoding is not canonical")
        }
        let encoded = Base64URL.encode(bytes)
        check(Base64URL.decode(Array(encoded.utf8)) == bytes, "base64url round trip failed")
    }

    static func checkExtract(_ text: String) {
        if let token = BearerToken.extract(authorization: text, query: nil) {
            check(!token.isEmpty && text.contains(token), "extracted \(token.debugDescription) from \(text.debugDescription)")
            check(!isOWS(token.utf8.first!) && !isOWS(token.utf8.last!), "token not trimmed")
            let scheme = text.utf8.drop(while: isOWS).prefix(6)
            check(scheme.elementsEqual("bearer".utf8) { HTTPSyntax.lower($0) == $1 }, "a token from a non-Bearer header")
        }
        let fromQuery = BearerToken.extract(authorization: nil, query: text)
        check((fromQuery == nil) == text.utf8.allSatisfy(isOWS), "query token presence")
        if let fromQuery { check(BearerToken.extract(authorization: "Bearer " + fromQuery, query: nil) == fromQuery, "header vs query") }
    }

    static func isOWS(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    static func checkRedaction(_ text: String) {
        let redacted = BearerToken.redactingAccessToken(text)
        check(BearerToken.redactingAccessToken(redacted) == redacted, "redaction is not idempotent")
        let original = Array(text.utf8), out = Array(redacted.utf8)
        guard let question = original.firstIndex(of: UInt8(ascii: "?")) else {
            check(redacted == text, "changed a target without a query")
            return
        }
        check(out.starts(with: original[...question]), "changed the part before the query")
        let before = query(original[(question + 1)...]), after = query(out[(question + 1)...])
        check(before.count == after.count, "changed the number of query parameters")
        for (old, new) in zip(before, after) {
            check(old.0 == new.0, "changed a query key")
            if HTTPSyntax.nameEquals(new.0, BearerToken.queryName) {
                check(new.1 == "***" || (new.1.isEmpty && old.1.isEmpty), "access_token left as \(new.1.debugDescription)")
            } else {
                check(old.1 == new.1, "changed another parameter")
            }
        }
    }

    static func query(_ bytes: ArraySlice<UInt8>) -> [(String, String)] {
        bytes.withUnsafeBufferPointer { SignalRMesh.HTTPTarget.decodeQuery($0) }  // not the fuzz target of that name
    }
}
