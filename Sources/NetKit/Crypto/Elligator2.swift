/// The Elligator 2 map to curve25519 (RFC 9380 §6.7.1, straight-line form of appendix G.2.1), in
/// constant time.
///
/// It sends any field element to a point of the curve v² = u³ + J·u² + u (J = 486662), without ever
/// revealing which of its two candidate points was taken. ``CPace`` uses it to turn the hashed password
/// into a generator whose discrete logarithm nobody knows.
///
/// Only the u-coordinate is computed: X25519 works on u alone, and the y sign fix of the RFC's last
/// steps changes y only, never u.
enum Elligator2 {
    /// J, the Montgomery A coefficient of curve25519 (K = 1).
    private static let j: UInt64 = 486_662

    /// `map_to_curve_elligator2_curve25519(u)`'s u-coordinate, canonical, 32 bytes little-endian.
    static func mapToCurve25519(_ u: Curve25519FieldElement) -> [UInt8] {
        mapToCurve25519UCoordinate(u).bytes
    }

    /// As ``mapToCurve25519(_:)``, as a field element.
    ///
    /// With Z = 2 (a non-square): x1 = −J / (1 + 2u²). If g(x1) = x1³ + J·x1² + x1 is a square the
    /// point is x1, else it is x2 = −x1 − J = 2u²·x1, whose g is 2u²·g(x1) and so a square. The
    /// denominator 1 + 2u² is never 0, since −1/2 is not a square mod p. Everything is kept as
    /// fractions over xd so that one inversion at the end suffices.
    static func mapToCurve25519UCoordinate(_ u: Curve25519FieldElement) -> Curve25519FieldElement {
        typealias F = Curve25519FieldElement
        let tv1 = u.squared.times(2)              // 2u²
        let xd = tv1 + F.one                      // 1 + 2u²
        let x1n = -F(j)                           // x1 = x1n / xd
        let tv2 = xd.squared
        let gxd = tv2 * xd                        // xd³
        var gx1 = tv1.times(j)                    // x1n + J·xd = J·2u²
        gx1 = gx1 * x1n                           // x1n² + J·x1n·xd
        gx1 = gx1 + tv2                           // x1n² + J·x1n·xd + xd²
        gx1 = gx1 * x1n                           // g(x1)·xd³ = x1n³ + J·x1n²·xd + x1n·xd²

        // Candidate square root of gx1/gxd, for p ≡ 5 (mod 8):
        // y11 = gx1·gxd³·(gx1·gxd⁷)^((p − 5)/8). When gx1/gxd is a square, y11 or y11·√−1 is a root,
        // so y11²·gxd is ±gx1; when it is not, neither holds.
        let gxd2 = gxd.squared
        let gxd3 = gxd2 * gxd
        let tv3 = gxd3 * gx1                      // gx1·gxd³
        let y11 = (gxd2.squared * tv3).powPMinus5Over8 * tv3
        let check = y11.squared * gxd
        let isSquare = F.equalMask(check, gx1) | F.equalMask(check, -gx1)

        let x2n = x1n * tv1                       // x2 = 2u²·x1
        let xn = F.select(x2n, x1n, if: isSquare)
        return xn * xd.inverse
    }
}
