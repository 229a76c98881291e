/// X25519 (RFC 7748 §5): scalar multiplication on the Montgomery u-line of Curve25519.
///
/// Linux Foundation has no CryptoKit and the project takes no dependencies, so the mesh PAKE (``CPace``)
/// gets its curve here. The ladder runs in time independent of the scalar and the point: a fixed 255
/// steps, swaps by mask, and an inversion by a fixed exponent chain.
///
/// The function is RFC 7748's exactly: the scalar is clamped, the top bit of u is ignored, values of u
/// in [p, 2^255) are reduced, and a low-order u yields the all-zero output. Rejecting that output is the
/// protocol's job (RFC 7748 §6.1); ``CPace/sharedSecret(peerShare:)`` does it.
///
/// Cost: about 40–60 µs per call in a release build on the 2-core development host (5 × 51-bit limbs,
/// 128-bit products); debug builds are a few hundred times slower.
public enum X25519 {
    /// Length in bytes of scalars, u-coordinates and outputs.
    public static let byteCount = 32

    /// The u-coordinate of the standard base point, u = 9.
    public static let basePoint: [UInt8] = [9] + [UInt8](repeating: 0, count: 31)

    /// Input of the wrong size.
    public enum InputError: Error, Equatable, Sendable {
        /// The scalar is not 32 bytes; `count` is what was given.
        case scalarLength(count: Int)
        /// The u-coordinate is not 32 bytes; `count` is what was given.
        case pointLength(count: Int)
    }

    /// X25519(scalar, u): 32 bytes, little-endian.
    ///
    /// - Throws: ``InputError`` when either input is not 32 bytes.
    public static func scalarMultiply(scalar: [UInt8], uCoordinate: [UInt8]) throws(InputError) -> [UInt8] {
        guard scalar.count == byteCount else { throw .scalarLength(count: scalar.count) }
        guard uCoordinate.count == byteCount else { throw .pointLength(count: uCoordinate.count) }
        return ladder(scalar: scalar, u: Curve25519FieldElement(bytes: uCoordinate)).bytes
    }

    /// X25519(scalar, 9): the public key of `scalar`.
    ///
    /// - Throws: ``InputError/scalarLength(count:)`` when the scalar is not 32 bytes.
    public static func publicKey(scalar: [UInt8]) throws(InputError) -> [UInt8] {
        try scalarMultiply(scalar: scalar, uCoordinate: basePoint)
    }

    /// RFC 7748 §5's clamping: clear the three low bits (a multiple of the cofactor 8), clear bit 255
    /// and set bit 254.
    static func clamp(_ scalar: [UInt8]) -> [UInt8] {
        var k = scalar
        k[0] &= 248
        k[31] &= 127
        k[31] |= 64
        return k
    }

    /// The Montgomery ladder of RFC 7748 §5 on the clamped `scalar`, returning the affine u of k·P.
    ///
    /// - Precondition: `scalar.count == 32`.
    static func ladder(scalar: [UInt8], u x1: Curve25519FieldElement) -> Curve25519FieldElement {
        let k = clamp(scalar)
        // (A − 2) / 4 for A = 486662.
        let a24: UInt64 = 121_665
        var x2 = Curve25519FieldElement.one
        var z2 = Curve25519FieldElement.zero
        var x3 = x1
        var z3 = Curve25519FieldElement.one
        var swap: UInt64 = 0

        for t in stride(from: 254, through: 0, by: -1) {
            // The byte index depends only on the public loop counter, never on the scalar.
            let bit = UInt64((k[t >> 3] >> UInt8(t & 7)) & 1)
            swap ^= bit
            let mask = 0 &- swap
            Curve25519FieldElement.conditionalSwap(&x2, &x3, if: mask)
            Curve25519FieldElement.conditionalSwap(&z2, &z3, if: mask)
            swap = bit

            let a = x2 + z2
            let aa = a.squared
            let b = x2 - z2
            let bb = b.squared
            let e = aa - bb
            let c = x3 + z3
            let d = x3 - z3
            let da = d * a
            let cb = c * b
            x3 = (da + cb).squared
            z3 = x1 * (da - cb).squared
            x2 = aa * bb
            z2 = e * (aa + e.times(a24))
        }
        let mask = 0 &- swap
        Curve25519FieldElement.conditionalSwap(&x2, &x3, if: mask)
        Curve25519FieldElement.conditionalSwap(&z2, &z3, if: mask)
        return x2 * z2.inverse
    }
}
