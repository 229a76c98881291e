import Testing

@testable import NetKit

@Suite struct Base64Tests {
    /// RFC 4648 §10.
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func rfcVectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func fullAlphabet() {
        // 0x00 0x10 0x83 … maps to the 64 characters in order.
        let bytes: [UInt8] = [
            0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8B, 0x30, 0xD3, 0x8F, 0x41, 0x14, 0x93, 0x51, 0x55, 0x97,
            0x61, 0x96, 0x9B, 0x71, 0xD7, 0x9F, 0x82, 0x18, 0xA3, 0x92, 0x59, 0xA7, 0xA2, 0x9A, 0xAB, 0xB2, 0xDB, 0xAF,
            0xC3, 0x1C, 0xB3, 0xD3, 0x5D, 0xB7, 0xE3, 0x9E, 0xBB, 0xF3, 0xDF, 0xBF,
        ]
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        #expect(Base64.encode(bytes) == alphabet)
        #expect(Base64.decode(alphabet) == bytes)
    }

    @Test func roundTripsEveryLengthAndByte() {
        var generator = SplitMix64(seed: 42)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64.encode(bytes)
            #expect(encoded.utf8.count == (length + 2) / 3 * 4)
            #expect(Base64.decode(encoded) == bytes)
        }
    }

    @Test(arguments: [
        "Zg", "Zg=", "Zm9vY",  // length not a multiple of 4
        "Zm9v!A==", "Zm 9", "Zm9v\n", "Zm-_", "Zg==\r\n",  // characters outside the alphabet
        "Z===", "====", "=Zg=", "Zg==Zg==", "Zm=v", "Z=9v", "Zg=A",  // padding in the wrong place
        "Zh==", "Zm9=",  // non-canonical: unused bits are not zero
        "Zm9vé===",
    ])
    func rejects(input: String) {
        #expect(Base64.decode(input) == nil)
    }

    @Test func webSocketSampleNonce() {
        let nonce = Base64.decode("dGhlIHNhbXBsZSBub25jZQ==")
        #expect(nonce == Array("the sample nonce".utf8))
    }
}

/// A small deterministic generator so that failures reproduce.
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
