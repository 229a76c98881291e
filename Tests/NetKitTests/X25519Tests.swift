import Dispatch
import Testing

@testable import NetKit

@Suite struct X25519Tests {
    private func x25519(_ scalarHex: String, _ uHex: String) throws -> String {
        Hex.encode(try X25519.scalarMultiply(scalar: Hex.decode(scalarHex), uCoordinate: Hex.decode(uHex)))
    }

    // RFC 7748 §5.2, first vector.
    @Test func rfc7748Vector1() throws {
        #expect(
            try x25519(
                "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
                == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    }

    // RFC 7748 §5.2, second vector (its u has bit 255 set, which must be ignored).
    @Test func rfc7748Vector2() throws {
        #expect(
            try x25519(
                "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")
                == "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")
    }

    /// RFC 7748 §5.2's iterated test: k = u = 9; repeat (k, u) = (X25519(k, u), k).
    private func iterate(_ count: Int) throws -> [UInt8] {
        var k = X25519.basePoint
        var u = X25519.basePoint
        for _ in 0..<count {
            let next = try X25519.scalarMultiply(scalar: k, uCoordinate: u)
            u = k
            k = next
        }
        return k
    }

    @Test func rfc7748IteratedOnce() throws {
        #expect(Hex.encode(try iterate(1)) == "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
    }

    @Test func rfc7748IteratedThousandTimes() throws {
        #expect(Hex.encode(try iterate(1_000)) == "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    }

    // RFC 7748 §6.1: Alice's and Bob's key pairs and their shared secret.
    @Test func rfc7748DiffieHellman() throws {
        let alicePrivate = Hex.decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        let bobPrivate = Hex.decode("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        let alicePublic = try X25519.publicKey(scalar: alicePrivate)
        let bobPublic = try X25519.publicKey(scalar: bobPrivate)
        #expect(Hex.encode(alicePublic) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        #expect(Hex.encode(bobPublic) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        #expect(Hex.encode(try X25519.scalarMultiply(scalar: alicePrivate, uCoordinate: bobPublic)) == shared)
        #expect(Hex.encode(try X25519.scalarMultiply(scalar: bobPrivate, uCoordinate: alicePublic)) == shared)
    }

    @Test func topBitOfUIsIgnored() throws {
        let scalar = Hex.decode("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
        var u = Hex.decode("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
        let plain = try X25519.scalarMultiply(scalar: scalar, uCoordinate: u)
        u[31] |= 0x80
        #expect(try X25519.scalarMultiply(scalar: scalar, uCoordinate: u) == plain)
    }

    @Test func lowOrderPointsGiveAllZero() throws {
        let scalar = Hex.decode("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        for point in LowOrderPoints.all {
            #expect(try X25519.scalarMultiply(scalar: scalar, uCoordinate: point) == [UInt8](repeating: 0, count: 32))
        }
    }

    @Test func wrongLengthsThrow() {
        #expect(throws: X25519.InputError.scalarLength(count: 31)) {
            try X25519.scalarMultiply(scalar: [UInt8](repeating: 1, count: 31), uCoordinate: X25519.basePoint)
        }
        #expect(throws: X25519.InputError.pointLength(count: 33)) {
            try X25519.scalarMultiply(scalar: X25519.basePoint, uCoordinate: [UInt8](repeating: 1, count: 33))
        }
        #expect(throws: X25519.InputError.pointLength(count: 0)) {
            try X25519.scalarMultiply(scalar: X25519.basePoint, uCoordinate: [])
        }
    }

    /// Prints the cost of one X25519 in this build (debug under `swift test`; the release figure is in
    /// ``X25519``'s doc comment). No bound is asserted: timing on a shared host is not a correctness
    /// property.
    @Test func timing() throws {
        let scalar = Hex.decode("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
        var u = X25519.basePoint
        let rounds = 20
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<rounds { u = try X25519.scalarMultiply(scalar: scalar, uCoordinate: u) }
        let perCall = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds) / 1_000
        print("X25519: \(Int(perCall)) µs per scalar multiplication (this build)")
        #expect(u.count == 32)
    }
}

/// The small-order u-coordinates X25519 implementations are commonly tested with: 0, 1, the two points
/// of order 8, p − 1, and the non-canonical spellings p and p + 1, each also with bit 255 set (which
/// X25519 ignores). A clamped scalar is a multiple of 8, so each gives the all-zero output.
enum LowOrderPoints {
    static let canonical: [[UInt8]] = [
        "0000000000000000000000000000000000000000000000000000000000000000",  // 0
        "0100000000000000000000000000000000000000000000000000000000000000",  // 1
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  // order 8
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  // order 8
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p − 1
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p (≡ 0)
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p + 1 (≡ 1)
    ].map(Hex.decode)

    static var all: [[UInt8]] {
        canonical + canonical.map { point in
            var high = point
            high[31] |= 0x80
            return high
        }
    }
}
