import Testing

@testable import NetKit

/// RFC 5869 appendix A, the SHA-256 cases.
@Suite struct HKDFTests {
    /// A.1: basic case.
    @Test func testCase1() {
        let ikm = [UInt8](repeating: 0x0b, count: 22)
        let salt = [UInt8](0x00...0x0c)
        let info = [UInt8](0xf0...0xf9)
        let prk = HKDFSHA256.extract(salt: salt, ikm: ikm)
        #expect(prk == hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"))
        let okm = hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        #expect(HKDFSHA256.expand(prk: prk, info: info, count: 42) == okm)
        #expect(HKDFSHA256.derive(ikm: ikm, salt: salt, info: info, count: 42) == okm)
    }

    /// A.2: longer inputs and outputs (three HMAC blocks; the 80-byte salt is longer than a SHA-256 block, so HMAC
    /// hashes it first).
    @Test func testCase2() {
        let ikm = [UInt8](0x00...0x4f)
        let salt = [UInt8](0x60...0xaf)
        let info = [UInt8](0xb0...0xff)
        let prk = HKDFSHA256.extract(salt: salt, ikm: ikm)
        #expect(prk == hex("06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244"))
        #expect(HKDFSHA256.expand(prk: prk, info: info, count: 82) == hex("""
            b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09
            da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87
            """))
    }

    /// A.3: empty salt and info.
    @Test func testCase3() {
        let ikm = [UInt8](repeating: 0x0b, count: 22)
        let prk = HKDFSHA256.extract(salt: [], ikm: ikm)
        #expect(prk == hex("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"))
        #expect(HKDFSHA256.derive(ikm: ikm, salt: [], info: [], count: 42) == hex(
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
    }

    /// Output lengths: 0, cut mid-block, and the maximum of 255 blocks; shorter outputs are prefixes of longer ones.
    @Test func outputLengths() {
        let prk = HKDFSHA256.extract(salt: [1, 2, 3], ikm: [4, 5, 6])
        let longest = HKDFSHA256.expand(prk: prk, info: [7], count: HKDFSHA256.maxOutputCount)
        #expect(longest.count == 8160)
        #expect(HKDFSHA256.expand(prk: prk, info: [7], count: 0) == [])
        for count in [1, 31, 32, 33, 64, 100] {
            #expect(HKDFSHA256.expand(prk: prk, info: [7], count: count) == Array(longest.prefix(count)))
        }
        #expect(HKDFSHA256.expand(prk: prk, info: [8], count: 32) != Array(longest.prefix(32)))
    }
}
