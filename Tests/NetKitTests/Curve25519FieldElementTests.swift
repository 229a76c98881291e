import Testing

@testable import NetKit

@Suite struct Curve25519FieldElementTests {
    typealias F = Curve25519FieldElement

    private func element(_ hex: String) -> F { F(bytes: Hex.decode(hex)) }

    /// A few values spread over the field, little-endian hex.
    private let samples = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0900000000000000000000000000000000000000000000000000000000000000",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449a44",
    ]

    @Test func canonicalEncodingReducesModP() {
        // p → 0, p + 1 → 1, 2^255 − 1 = p + 18 → 18, p − 1 stays.
        #expect(element("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").bytes == F.zero.bytes)
        #expect(Hex.encode(element("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").bytes)
            == "0100000000000000000000000000000000000000000000000000000000000000")
        #expect(Hex.encode(element("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").bytes)
            == "1200000000000000000000000000000000000000000000000000000000000000")
        #expect(Hex.encode(element("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").bytes)
            == "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
        // Bit 255 is ignored on decoding.
        #expect(element("0100000000000000000000000000000000000000000000000000000000000080").bytes == F.one.bytes)
    }

    @Test func ringIdentities() {
        for a in samples.map(element) {
            for b in samples.map(element) {
                #expect((a * b).bytes == (b * a).bytes)
                #expect(((a + b) - b).bytes == a.bytes)
                #expect((a * (b + F.one)).bytes == (a * b + a).bytes)
            }
            #expect(a.squared.bytes == (a * a).bytes)
            #expect((a + (-a)).bytes == F.zero.bytes)
            #expect(a.times(121_665).bytes == (a * F(121_665)).bytes)
        }
    }

    @Test func inverse() {
        for a in samples.map(element) {
            #expect((a * a.inverse).bytes == F.one.bytes)
        }
        #expect(F.zero.inverse.bytes == F.zero.bytes)
        // −1 = p − 1 is its own inverse.
        let minusOne = -F.one
        #expect(minusOne.inverse.bytes == minusOne.bytes)
    }

    @Test func masksAndSelection() {
        let a = element(samples[2])
        let b = element(samples[5])
        #expect(F.equalMask(a, a) == UInt64.max)
        #expect(F.equalMask(a, b) == 0)
        // p and 0 are the same element.
        #expect(F.equalMask(element("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), F.zero) == UInt64.max)
        #expect(F.select(a, b, if: 0).bytes == a.bytes)
        #expect(F.select(a, b, if: .max).bytes == b.bytes)
        var x = a
        var y = b
        F.conditionalSwap(&x, &y, if: 0)
        #expect(x.bytes == a.bytes && y.bytes == b.bytes)
        F.conditionalSwap(&x, &y, if: .max)
        #expect(x.bytes == b.bytes && y.bytes == a.bytes)
    }

    // hash_to_field's reduction of 48 big-endian bytes; expected values computed with Python's
    // arbitrary-precision integers (int.from_bytes(v, "big") % (2**255 - 19)).
    @Test func reducesFortyEightBytes() {
        #expect(Hex.encode(F.reducing(bigEndian: [UInt8](repeating: 0xff, count: 48)).bytes)
            == "ffffffffffffffffffffffffffffffff25000000000000000000000000000000")
        #expect(Hex.encode(F.reducing(bigEndian: (1...48).map { UInt8($0) }).bytes)
            == "906b441df6cea78059320be4bc956e47201f1e1d1c1b1a191817161514131211")
        // 2^256·(2^128 − 1) + p.
        let p = Hex.decode("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed")
        #expect(Hex.encode(F.reducing(bigEndian: [UInt8](repeating: 0xff, count: 16) + p).bytes)
            == "daffffffffffffffffffffffffffffff25000000000000000000000000000000")
        #expect(F.reducing(bigEndian: [UInt8](repeating: 0, count: 48)).bytes == F.zero.bytes)
    }
}
