import Foundation
import NetKit
import Testing

@testable import SignalRMesh

/// Builds HS256 tokens for the tests (the signing side the server itself never needs).
enum JWTTestToken {
    static let key = Array("a-test-key-that-is-32-bytes-long".utf8)
    static let header = #"{"alg":"HS256","typ":"JWT"}"#

    /// `header` and `payload` are JSON texts, encoded exactly as given.
    static func sign(header: String = header, payload: String, key: [UInt8] = key) -> String {
        sign(encodedHeader: Base64URL.encode(Array(header.utf8)), encodedPayload: Base64URL.encode(Array(payload.utf8)), key: key)
    }

    /// Signs segments as given, even ones that are not valid base64url.
    static func sign(encodedHeader: String, encodedPayload: String, key: [UInt8] = key) -> String {
        let signingInput = encodedHeader + "." + encodedPayload
        let mac = HMACSHA256.authenticationCode(key: key, message: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(mac)
    }
}

@Suite struct JWTValidatorTests {
    let key = JWTTestToken.key

    private func validator(now: Double = 1_000, skew: Double = 0, requireExpiration: Bool = false) -> JWTValidator {
        JWTValidator(key: key, clockSkew: skew, requireExpiration: requireExpiration, now: { now })
    }

    /// The error `validate` throws, or nil when it accepts the token.
    private func failure(_ token: String, _ validator: JWTValidator) -> JWTError? {
        do {
            _ = try validator.validate(token)
            return nil
        } catch {
            return error
        }
    }

    private func failure(_ token: String, now: Double = 1_000, skew: Double = 0) -> JWTError? {
        failure(token, validator(now: now, skew: skew))
    }

    // MARK: - Known answers

    /// RFC 7515 Appendix A.1: the HS256 JWS example, with its key given as a JWK (`"kty":"oct"`). Its header
    /// and payload contain CR LF and spaces, so they exercise the JSON parser's whitespace too.
    @Test func rfc7515AppendixA1() throws {
        let jwkK = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
        let key = try #require(Base64URL.decode(Array(jwkK.utf8)))
        #expect(key.count == 64)
        let token =
            "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
            + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
            + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

        let beforeExpiry = JWTValidator(key: key, now: { 1_300_819_379 })
        let claims = try beforeExpiry.validate(token)
        #expect(claims[string: "iss"] == "joe")
        #expect(claims[number: "exp"] == 1_300_819_380)
        #expect(claims.contains("http://example.com/is_root"))
        #expect(claims[string: "http://example.com/is_root"] == nil, "a boolean is not a string claim")
        #expect(claims.names == ["exp", "http://example.com/is_root", "iss"])
        #expect(claims.stringClaims == ["iss": "joe"])
        #expect(claims.userId == nil)

        let atExpiry = JWTValidator(key: key, now: { 1_300_819_380 })
        #expect(failure(token, atExpiry) == .expired)
        let otherKey = JWTValidator(key: Array(key.dropLast()), now: { 1_300_819_379 })
        #expect(failure(token, otherKey) == .badSignature)
    }

    /// A token made by Python's `hmac`/`base64` modules (an independent implementation), with a `\u` escape, a
    /// fractional `exp` and an integer `nbf`.
    @Test func pythonMadeToken() throws {
        let key = Array("python-made-known-answer-key-0123456789".utf8)
        let token =
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
            + ".eyJzdWIiOiJhbGljZSIsIm5hbWUiOiJBbGljZSBcdTAwZTkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMC41LCJuYmYiOjE2OTk5OTk5OTl9"
            + ".DGK7-uJmth7i-DCAIfXIEhZ9d4RhQdPPuh6XbpvBgt0"
        let claims = try JWTValidator(key: key, now: { 1_700_000_000 }).validate(token)
        #expect(claims.userId == "alice")
        #expect(claims.subject == "alice")
        #expect(claims[string: "name"] == "Alice é")
        #expect(claims[number: "iat"] == 1_700_000_000)
        #expect(failure(token, JWTValidator(key: key, now: { 1_700_003_600.5 })) == .expired)
        #expect(failure(token, JWTValidator(key: key, now: { 1_699_999_998.9 })) == .notYetValid)
        #expect(failure(token, JWTValidator(key: key, now: { 1_699_999_999 })) == nil)
    }

    @Test func testSignerMatchesTheValidator() throws {
        let token = JWTTestToken.sign(payload: #"{"sub":"bob"}"#)
        #expect(try validator().validate(token).userId == "bob")
    }

    // MARK: - Header and algorithm

    @Test func onlyHS256IsAccepted() {
        let payload = #"{"sub":"mallory"}"#
        for header in [
            #"{"alg":"none"}"#, #"{"alg":"None"}"#, #"{"alg":"HS512","typ":"JWT"}"#, #"{"alg":"HS384"}"#,
            #"{"alg":"RS256","typ":"JWT"}"#, #"{"alg":"ES256"}"#, #"{"alg":"hs256"}"#, #"{"alg":"HS256 "}"#,
            #"{"typ":"JWT"}"#, #"{}"#, #"{"alg":null}"#, #"{"alg":256}"#, #"{"alg":["HS256"]}"#,
        ] {
            // Signed with the right key by HMAC-SHA256 all the same: the header alone must sink it.
            #expect(failure(JWTTestToken.sign(header: header, payload: payload)) == .unsupportedAlgorithm, "\(header)")
        }
    }

    /// The classic forgery: `alg: none` and an empty signature.
    @Test func unsecuredTokenIsRefused() {
        let token = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "."
            + Base64URL.encode(Array(#"{"sub":"admin"}"#.utf8)) + "."
        #expect(failure(token) == .unsupportedAlgorithm)
    }

    @Test func typIsOptionalAndFree() {
        for header in [#"{"alg":"HS256"}"#, #"{"typ":"at+jwt","alg":"HS256"}"#, #"{"alg":"HS256","kid":"k1","typ":1}"#] {
            #expect(failure(JWTTestToken.sign(header: header, payload: "{}")) == nil, "\(header)")
        }
    }

    /// A repeated `alg` counts by its last value (RFC 7515 §5.2 allows "lexically last"), so it cannot smuggle
    /// `none` past a first-match reader either.
    @Test func repeatedAlgUsesTheLastValue() {
        #expect(failure(JWTTestToken.sign(header: #"{"alg":"HS256","alg":"none"}"#, payload: "{}")) == .unsupportedAlgorithm)
        #expect(failure(JWTTestToken.sign(header: #"{"alg":"none","alg":"HS256"}"#, payload: "{}")) == nil)
    }

    @Test func criticalExtensionsAreRefused() {
        let token = JWTTestToken.sign(header: #"{"alg":"HS256","b64":false,"crit":["b64"]}"#, payload: "{}")
        #expect(failure(token) == .unsupportedCriticalHeader)
    }

    @Test func headerMustBeAJSONObject() {
        for header in ["[]", #""HS256""#, "{", #"{"alg":"HS256"} x"#, "", "\u{FEFF}{\"alg\":\"HS256\"}"] {
            let token = JWTTestToken.sign(header: header, payload: "{}")
            let expected: JWTError = header.isEmpty ? .malformed(.headerEncoding) : .malformed(.headerJSON)
            #expect(failure(token) == expected, "\(header.debugDescription)")
        }
        // Invalid UTF-8 inside a header string.
        let bad = JWTTestToken.sign(
            encodedHeader: Base64URL.encode(Array(#"{"alg":"HS256","x":""#.utf8) + [0xC3, 0x28] + Array("\"}".utf8)),
            encodedPayload: Base64URL.encode(Array("{}".utf8)))
        #expect(failure(bad) == .malformed(.headerJSON))
    }

    // MARK: - Signature

    @Test func tamperedTokensAreRefused() throws {
        let token = JWTTestToken.sign(payload: #"{"sub":"alice","admin":false}"#)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        #expect(parts.count == 3)

        // Another payload under the original signature.
        let forgedPayload = Base64URL.encode(Array(#"{"sub":"alice","admin":true}"#.utf8))
        #expect(failure([parts[0], forgedPayload, parts[2]].joined(separator: ".")) == .badSignature)
        // Another header under the original signature.
        let otherHeader = Base64URL.encode(Array(#"{"alg":"HS256"}"#.utf8))
        #expect(failure([otherHeader, parts[1], parts[2]].joined(separator: ".")) == .badSignature)

        // Every single-character change of the signature (keeping it canonical base64url).
        var signature = Array(parts[2].utf8)
        for i in signature.indices.dropLast() {
            let original = signature[i]
            signature[i] = original == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let tampered = parts[0] + "." + parts[1] + "." + String(decoding: signature, as: UTF8.self)
            #expect(failure(tampered) == .badSignature, "signature byte \(i)")
            signature[i] = original
        }

        // Truncated, extended and empty signatures.
        let mac = try #require(Base64URL.decode(Array(parts[2].utf8)))
        for other in [Array(mac.dropLast()), mac + [0], [], Array(mac.prefix(16))] {
            #expect(failure(parts[0] + "." + parts[1] + "." + Base64URL.encode(other)) == .badSignature)
        }

        // The right token under another key.
        let otherKey = JWTValidator(key: Array("another-key-that-is-32-bytes-lon".utf8), now: { 1_000 })
        #expect(failure(token, otherKey) == .badSignature)
    }

    @Test func emptyKeyAcceptsNothing() {
        let token = JWTTestToken.sign(payload: #"{"sub":"x"}"#, key: [])
        #expect(failure(token, JWTValidator(key: [], now: { 1_000 })) == .noKey)
    }

    /// Keys longer than SHA-256's 64-byte block are hashed first (RFC 2104); the validator must agree with signers.
    @Test func longKeys() {
        let longKey = [UInt8](repeating: 0x5A, count: 100)
        let token = JWTTestToken.sign(payload: #"{"sub":"long"}"#, key: longKey)
        #expect(failure(token, JWTValidator(key: longKey, now: { 0 })) == nil)
        #expect(failure(token, JWTValidator(key: Array(longKey.prefix(64)), now: { 0 })) == .badSignature)
    }

    // MARK: - Structure and encoding

    @Test func segmentCount() {
        let token = JWTTestToken.sign(payload: "{}")
        for bad in ["", ".", "..", "...", "abc", "a.b", token + ".", "." + token, token + "." + "x", token.replacingDots(with: "")] {
            let error = failure(bad)
            if bad == ".." {
                #expect(error == .malformed(.headerEncoding))
            } else {
                #expect(error == .malformed(.segmentCount), "\(bad)")
            }
        }
    }

    @Test func paddingIsRefusedInEverySegment() {
        let h = Base64URL.encode(Array(#"{"alg":"HS256"}"#.utf8))  // 15 bytes → 20 chars, no padding needed
        let p = Base64URL.encode(Array(#"{"sub":"a"}"#.utf8))  // 11 bytes → 15 chars: standard base64 pads one '='
        // Padding on the header or payload, signed over as sent: the encoding itself is refused.
        #expect(failure(JWTTestToken.sign(encodedHeader: h + "==", encodedPayload: p)) == .malformed(.headerEncoding))
        #expect(failure(JWTTestToken.sign(encodedHeader: h, encodedPayload: p + "=")) == .malformed(.payloadEncoding))
        // Padding added to a good token's signature.
        let token = JWTTestToken.sign(encodedHeader: h, encodedPayload: p)
        #expect(failure(token) == nil)
        #expect(failure(token + "=") == .malformed(.signatureEncoding))
        // Padding added to a good token's payload changes what was signed.
        let parts = token.split(separator: ".").map(String.init)
        #expect(failure(parts[0] + "." + parts[1] + "=." + parts[2]) == .badSignature)
    }

    @Test func invalidBase64URLIsRefused() {
        let payload = Base64URL.encode(Array(#"{"sub":"a"}"#.utf8))
        let header = Base64URL.encode(Array(#"{"alg":"HS256"}"#.utf8))
        // Standard-alphabet characters, spaces and non-ASCII in the payload, signed as sent.
        for bad in [payload + "+", payload.replacingOccurrences(of: "e", with: "/"), " " + payload, payload + "\u{E9}"] {
            #expect(failure(JWTTestToken.sign(encodedHeader: header, encodedPayload: bad)) == .malformed(.payloadEncoding), "\(bad)")
        }
        #expect(failure(JWTTestToken.sign(encodedHeader: header + "!", encodedPayload: payload)) == .malformed(.headerEncoding))
        // A signature with the standard alphabet's '+' and '/'.
        let token = JWTTestToken.sign(encodedHeader: header, encodedPayload: payload)
        let standard = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if standard != token {
            #expect(failure(standard) != nil)
        }
        #expect(failure(token + "+") == .malformed(.signatureEncoding))
        // Non-canonical last character (nonzero unused bits): a second spelling of the same signature.
        var sig = Array(token.split(separator: ".")[2].utf8)  // 43 chars for 32 bytes: the last holds 2 unused bits
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let last = table.firstIndex(of: sig[sig.count - 1])!
        sig[sig.count - 1] = table[last | 1]
        #expect(failure(header + "." + payload + "." + String(decoding: sig, as: UTF8.self)) == .malformed(.signatureEncoding))
    }

    @Test func payloadMustBeAJSONObject() {
        for payload in ["[]", "1", #""sub""#, "null", "{", #"{"sub":"a"}{"#, ""] {
            #expect(failure(JWTTestToken.sign(payload: payload)) == .malformed(.payloadJSON), "\(payload.debugDescription)")
        }
    }

    @Test func sizeLimit() {
        let token = JWTTestToken.sign(payload: #"{"sub":"a","pad":""# + String(repeating: "x", count: 500) + #""}"#)
        let n = token.utf8.count
        #expect(failure(token, JWTValidator(key: key, maxTokenBytes: n, now: { 0 })) == nil)
        #expect(failure(token, JWTValidator(key: key, maxTokenBytes: n - 1, now: { 0 })) == .tooLarge(limit: n - 1))

        // Default limit: 8 KiB.
        let big = JWTTestToken.sign(payload: #"{"pad":""# + String(repeating: "y", count: 7_000) + #""}"#)
        #expect(big.utf8.count > JWTValidator.defaultMaxTokenBytes)
        #expect(failure(big) == .tooLarge(limit: 8_192))
        // A megabyte of junk is refused by its length alone.
        #expect(failure(String(repeating: "A", count: 1 << 20)) == .tooLarge(limit: 8_192))
        #expect(failure(String(repeating: ".", count: 9_000)) == .tooLarge(limit: 8_192))
    }

    // MARK: - Time claims

    @Test func expiryBoundary() {
        let token = JWTTestToken.sign(payload: #"{"sub":"a","exp":1000}"#)
        #expect(failure(token, now: 999.999) == nil)
        #expect(failure(token, now: 1_000) == .expired, "expired when now == exp")
        #expect(failure(token, now: 5_000) == .expired)
        // Skew moves the boundary to exp + skew.
        #expect(failure(token, now: 1_004.999, skew: 5) == nil)
        #expect(failure(token, now: 1_005, skew: 5) == .expired)
    }

    @Test func notBeforeBoundary() {
        let token = JWTTestToken.sign(payload: #"{"sub":"a","nbf":1000}"#)
        #expect(failure(token, now: 999.999) == .notYetValid)
        #expect(failure(token, now: 1_000) == nil, "valid from nbf on")
        #expect(failure(token, now: 995, skew: 5) == nil)
        #expect(failure(token, now: 994.999, skew: 5) == .notYetValid)
    }

    @Test func fractionalAndExponentNumericDates() {
        let fractional = JWTTestToken.sign(payload: #"{"exp":1000.5,"nbf":999.25}"#)
        #expect(failure(fractional, now: 999.2) == .notYetValid)
        #expect(failure(fractional, now: 999.25) == nil)
        #expect(failure(fractional, now: 1_000.4) == nil)
        #expect(failure(fractional, now: 1_000.5) == .expired)
        let exponent = JWTTestToken.sign(payload: #"{"exp":1E3,"nbf":9.99e2}"#)
        #expect(failure(exponent, now: 998) == .notYetValid)
        #expect(failure(exponent, now: 999.5) == nil)
        #expect(failure(exponent, now: 1_000) == .expired)
        let negative = JWTTestToken.sign(payload: #"{"nbf":-5}"#)
        #expect(failure(negative, now: 0) == nil)
    }

    @Test func nonNumericTimeClaimsAreErrors() {
        for (payload, name) in [
            (#"{"exp":"1000"}"#, "exp"), (#"{"exp":null}"#, "exp"), (#"{"exp":true}"#, "exp"), (#"{"exp":[1000]}"#, "exp"),
            (#"{"exp":{}}"#, "exp"), (#"{"exp":1e400}"#, "exp"), (#"{"nbf":"0"}"#, "nbf"), (#"{"nbf":false}"#, "nbf"),
            (#"{"exp":2000,"nbf":-1e999}"#, "nbf"),
        ] {
            #expect(failure(JWTTestToken.sign(payload: payload)) == .invalidTimeClaim(name), "\(payload)")
        }
    }

    @Test func expirationRequiredOnlyWhenAskedFor() {
        let noExp = JWTTestToken.sign(payload: #"{"sub":"a"}"#)
        #expect(failure(noExp, validator()) == nil)
        #expect(failure(noExp, validator(requireExpiration: true)) == .missingExpiration)
        let withExp = JWTTestToken.sign(payload: #"{"sub":"a","exp":2000}"#)
        #expect(failure(withExp, validator(requireExpiration: true)) == nil)
    }

    @Test func unusableSkewCountsAsZero() {
        #expect(JWTValidator(key: key, clockSkew: -30).clockSkew == 0)
        #expect(JWTValidator(key: key, clockSkew: .nan).clockSkew == 0)
        #expect(JWTValidator(key: key, clockSkew: .infinity).clockSkew == 0)
        let token = JWTTestToken.sign(payload: #"{"exp":1000}"#)
        #expect(failure(token, now: 999, skew: -30) == nil)
        #expect(failure(token, JWTValidator(key: key, clockSkew: .infinity, now: { 1e12 })) == .expired)
    }

    /// The default clock is the wall clock: a token that expired in 2001 is expired, one valid until 2286 is not.
    @Test func defaultClockIsTheWallClock() {
        let v = JWTValidator(key: key)
        #expect(failure(JWTTestToken.sign(payload: #"{"exp":1000000000}"#), v) == .expired)
        #expect(failure(JWTTestToken.sign(payload: #"{"exp":9999999999}"#), v) == nil)
    }

    // MARK: - Errors never show the token

    @Test func errorDescriptionsNeverContainTheToken() {
        let good = JWTTestToken.sign(payload: #"{"sub":"secret-user-name","exp":1000}"#)
        let parts = good.split(separator: ".").map(String.init)
        let tokens = [
            good, parts[0] + "." + parts[1] + ".AAAA", parts[0] + "." + parts[1], good + "=", "Bearer " + good,
            JWTTestToken.sign(header: #"{"alg":"none"}"#, payload: #"{"sub":"secret-user-name"}"#),
            JWTTestToken.sign(payload: #"{"sub":"secret-user-name","exp":"soon"}"#),
            JWTTestToken.sign(payload: #"{"sub":"secret-user-name","nbf":5000}"#),
            String(repeating: good, count: 40),
        ]
        var seen = 0
        for token in tokens {
            guard let error = failure(token, now: 2_000) else { continue }
            seen += 1
            let text = "\(error) \(String(reflecting: error))"
            #expect(!text.contains("secret-user-name"))
            for piece in token.split(separator: ".") where piece.count >= 4 {
                #expect(!text.contains(piece), "\(error) shows part of the token")
            }
        }
        #expect(seen == tokens.count, "every token above is bad")
    }
}

extension String {
    fileprivate func replacingDots(with replacement: String) -> String {
        split(separator: ".", omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
