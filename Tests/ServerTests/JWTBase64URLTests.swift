import Testing

@testable import SignalRMesh

/// The strict unpadded base64url that JWS segments use (RFC 4648 §5, RFC 7515 §2).
@Suite struct JWTBase64URLTests {
    private func decode(_ s: String) -> [UInt8]? { Base64URL.decode(Array(s.utf8)) }

    /// RFC 4648 §10 vectors, without their padding.
    @Test func rfc4648Vectors() {
        let vectors = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(decode(encoded) == Array(plain.utf8))
        }
    }

    /// The two characters that differ from standard base64: 62 is `-`, 63 is `_`.
    @Test func urlSafeAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(decode("-_-_") == [0xFB, 0xFF, 0xBF])
        #expect(decode("+/+/") == nil, "the standard alphabet's + and / are not base64url")
    }

    @Test func everyLengthRoundTrips() {
        var bytes: [UInt8] = []
        for n in 0..<70 {
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("="))
            #expect(decode(encoded) == bytes, "length \(n)")
            bytes.append(UInt8(truncatingIfNeeded: n &* 37 &+ 11))
        }
    }

    @Test func paddingIsRefused() {
        #expect(decode("Zg==") == nil)
        #expect(decode("Zm8=") == nil)
        #expect(decode("Zm9v=") == nil)
        #expect(decode("=") == nil)
    }

    @Test func invalidCharactersAreRefused() {
        for bad in ["Zm9v Yg", "Zm9v\nYg", "Zm9v.Yg", "Zm9%Yg", "Zm9vYg\u{0}", "Zm9vé", "*"] {
            #expect(decode(bad) == nil, "\(bad.debugDescription)")
        }
    }

    /// A length of 4n+1 holds 6 bits beyond whole bytes: no encoder writes it.
    @Test func impossibleLengthIsRefused() {
        #expect(decode("Z") == nil)
        #expect(decode("Zm9vY") == nil)
    }

    /// Non-zero bits after the last byte would give a second spelling of the same bytes.
    @Test func nonCanonicalTrailingBitsAreRefused() {
        #expect(decode("Zg") == [0x66])
        #expect(decode("Zh") == nil)  // 'h' = 33: low 4 bits 0001
        #expect(decode("Zm8") == [0x66, 0x6F])
        #expect(decode("Zm9") == nil)  // '9' = 61: low 2 bits 01
    }
}
