/// An element of GF(2^255 − 19), the field of Curve25519, in five 51-bit limbs.
///
/// The value is `l0 + l1·2^51 + l2·2^102 + l3·2^153 + l4·2^204`. Limbs are kept "loose": every operation
/// returns limbs below 2^52, which leaves room for the 128-bit products of ``*`` without overflow, and
/// only ``bytes`` reduces to the canonical value in [0, p).
///
/// Every operation runs in time independent of the values: no branch and no memory index depends on
/// a limb, and selection is done with masks (``conditionalSwap(_:_:if:)``, ``select(_:_:if:)``). This
/// matters because X25519 scalars and PAKE generators are secrets.
struct Curve25519FieldElement: Sendable {
    var l0: UInt64
    var l1: UInt64
    var l2: UInt64
    var l3: UInt64
    var l4: UInt64

    static let mask51: UInt64 = (1 << 51) - 1

    static let zero = Curve25519FieldElement(l0: 0, l1: 0, l2: 0, l3: 0, l4: 0)
    static let one = Curve25519FieldElement(l0: 1, l1: 0, l2: 0, l3: 0, l4: 0)

    @inline(__always)
    init(l0: UInt64, l1: UInt64, l2: UInt64, l3: UInt64, l4: UInt64) {
        self.l0 = l0
        self.l1 = l1
        self.l2 = l2
        self.l3 = l3
        self.l4 = l4
    }

    /// A small constant (below 2^51).
    init(_ small: UInt64) {
        precondition(small <= Self.mask51, "small field constant out of range")
        self.init(l0: small, l1: 0, l2: 0, l3: 0, l4: 0)
    }

    /// Decodes 32 little-endian bytes, ignoring the top bit (bit 255), as RFC 7748 §5 asks of
    /// u-coordinates. Values in [p, 2^255) are accepted and act as their residue mod p.
    ///
    /// - Precondition: `bytes.count == 32` (callers check lengths that come from the network).
    init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a field element is 32 bytes")
        self = bytes.withUnsafeBufferPointer { b in
            @inline(__always)
            func word(_ offset: Int) -> UInt64 {
                var w: UInt64 = 0
                for i in 0..<8 { w |= UInt64(b[offset + i]) << UInt64(8 * i) }
                return w
            }
            // Limb i starts at bit 51·i: bytes 0, 6 (+3 bits), 12 (+6), 19 (+1), 24 (+12).
            return Curve25519FieldElement(
                l0: word(0) & Self.mask51,
                l1: (word(6) >> 3) & Self.mask51,
                l2: (word(12) >> 6) & Self.mask51,
                l3: (word(19) >> 1) & Self.mask51,
                l4: (word(24) >> 12) & Self.mask51)
        }
    }

    /// The canonical encoding: the value reduced into [0, p), 32 bytes little-endian (bit 255 clear).
    var bytes: [UInt8] {
        var h = self
        h.carry()
        h.carry()
        // Now h < 2^255 + 2^52 < 2p with limbs below 2^51 (l0 a little above at most).
        // q = 1 exactly when h ≥ p, i.e. when h + 19 ≥ 2^255; the nested carries compute ⌊(h + 19) / 2^255⌋.
        var q = (h.l0 &+ 19) >> 51
        q = (h.l1 &+ q) >> 51
        q = (h.l2 &+ q) >> 51
        q = (h.l3 &+ q) >> 51
        q = (h.l4 &+ q) >> 51
        // h − q·p = h + 19q − q·2^255: add 19q, carry without wrapping, and drop bit 255.
        h.l0 &+= 19 &* q
        h.l1 &+= h.l0 >> 51
        h.l0 &= Self.mask51
        h.l2 &+= h.l1 >> 51
        h.l1 &= Self.mask51
        h.l3 &+= h.l2 >> 51
        h.l2 &= Self.mask51
        h.l4 &+= h.l3 >> 51
        h.l3 &= Self.mask51
        h.l4 &= Self.mask51

        let words: (UInt64, UInt64, UInt64, UInt64) = (
            h.l0 | h.l1 << 51,
            h.l1 >> 13 | h.l2 << 38,
            h.l2 >> 26 | h.l3 << 25,
            h.l3 >> 39 | h.l4 << 12
        )
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<8 {
            let shift = UInt64(8 * i)
            out[i] = UInt8(truncatingIfNeeded: words.0 >> shift)
            out[8 + i] = UInt8(truncatingIfNeeded: words.1 >> shift)
            out[16 + i] = UInt8(truncatingIfNeeded: words.2 >> shift)
            out[24 + i] = UInt8(truncatingIfNeeded: words.3 >> shift)
        }
        return out
    }

    /// All-ones when the value is 0 mod p, else zero; constant time.
    var isZeroMask: UInt64 {
        var difference: UInt8 = 0
        for byte in bytes { difference |= byte }
        // (x − 1) >> 63 is 1 only for x = 0 when x < 2^8.
        let isZero = (UInt64(difference) &- 1) >> 63
        return 0 &- isZero
    }

    /// All-ones when `a == b` mod p, else zero; constant time.
    static func equalMask(_ a: Curve25519FieldElement, _ b: Curve25519FieldElement) -> UInt64 {
        (a - b).isZeroMask
    }

    /// Propagates carries so that every limb is below 2^51, except `l0`, which may exceed it by a
    /// little (19 times the carry out of `l4`).
    @inline(__always)
    mutating func carry() {
        l1 &+= l0 >> 51
        l0 &= Self.mask51
        l2 &+= l1 >> 51
        l1 &= Self.mask51
        l3 &+= l2 >> 51
        l2 &= Self.mask51
        l4 &+= l3 >> 51
        l3 &= Self.mask51
        l0 &+= 19 &* (l4 >> 51)
        l4 &= Self.mask51
    }

    @inline(__always)
    static func + (a: Curve25519FieldElement, b: Curve25519FieldElement) -> Curve25519FieldElement {
        var r = Curve25519FieldElement(l0: a.l0 &+ b.l0, l1: a.l1 &+ b.l1, l2: a.l2 &+ b.l2, l3: a.l3 &+ b.l3, l4: a.l4 &+ b.l4)
        r.carry()
        return r
    }

    /// a − b, computed as a + 4p − b so that no limb goes negative (inputs have limbs below 2^52).
    @inline(__always)
    static func - (a: Curve25519FieldElement, b: Curve25519FieldElement) -> Curve25519FieldElement {
        // 4p in limbs: 4·(2^51 − 19) and four times 4·(2^51 − 1).
        let fourP0: UInt64 = 0x1F_FFFF_FFFF_FFB4
        let fourPi: UInt64 = 0x1F_FFFF_FFFF_FFFC
        var r = Curve25519FieldElement(
            l0: (a.l0 &+ fourP0) &- b.l0, l1: (a.l1 &+ fourPi) &- b.l1, l2: (a.l2 &+ fourPi) &- b.l2,
            l3: (a.l3 &+ fourPi) &- b.l3, l4: (a.l4 &+ fourPi) &- b.l4)
        r.carry()
        return r
    }

    @inline(__always)
    static prefix func - (a: Curve25519FieldElement) -> Curve25519FieldElement { zero - a }

    @inline(__always)
    static func * (a: Curve25519FieldElement, b: Curve25519FieldElement) -> Curve25519FieldElement {
        @inline(__always) func m(_ x: UInt64, _ y: UInt64) -> UInt128 { UInt128(x) &* UInt128(y) }
        // 2^255 ≡ 19, so a limb product landing at 2^255 or above comes back multiplied by 19.
        let b1x19 = b.l1 &* 19
        let b2x19 = b.l2 &* 19
        let b3x19 = b.l3 &* 19
        let b4x19 = b.l4 &* 19
        let r0 = m(a.l0, b.l0) &+ m(a.l1, b4x19) &+ m(a.l2, b3x19) &+ m(a.l3, b2x19) &+ m(a.l4, b1x19)
        let r1 = m(a.l0, b.l1) &+ m(a.l1, b.l0) &+ m(a.l2, b4x19) &+ m(a.l3, b3x19) &+ m(a.l4, b2x19)
        let r2 = m(a.l0, b.l2) &+ m(a.l1, b.l1) &+ m(a.l2, b.l0) &+ m(a.l3, b4x19) &+ m(a.l4, b3x19)
        let r3 = m(a.l0, b.l3) &+ m(a.l1, b.l2) &+ m(a.l2, b.l1) &+ m(a.l3, b.l0) &+ m(a.l4, b4x19)
        let r4 = m(a.l0, b.l4) &+ m(a.l1, b.l3) &+ m(a.l2, b.l2) &+ m(a.l3, b.l1) &+ m(a.l4, b.l0)
        return reduce(r0, r1, r2, r3, r4)
    }

    /// The square; about a third cheaper than `self * self`.
    @inline(__always)
    var squared: Curve25519FieldElement {
        @inline(__always) func m(_ x: UInt64, _ y: UInt64) -> UInt128 { UInt128(x) &* UInt128(y) }
        let d0 = l0 &* 2
        let d1 = l1 &* 2
        let d2x19 = l2 &* 38
        let d3x19 = l3 &* 38
        let l3x19 = l3 &* 19
        let l4x19 = l4 &* 19
        let r0 = m(l0, l0) &+ m(d1, l4x19) &+ m(d2x19, l3)
        let r1 = m(d0, l1) &+ m(d2x19, l4) &+ m(l3, l3x19)
        let r2 = m(d0, l2) &+ m(l1, l1) &+ m(d3x19, l4)
        let r3 = m(d0, l3) &+ m(d1, l2) &+ m(l4, l4x19)
        let r4 = m(d0, l4) &+ m(d1, l3) &+ m(l2, l2)
        return Self.reduce(r0, r1, r2, r3, r4)
    }

    /// Multiplication by a small constant (below 2^32).
    @inline(__always)
    func times(_ small: UInt64) -> Curve25519FieldElement {
        @inline(__always) func m(_ x: UInt64) -> UInt128 { UInt128(x) &* UInt128(small) }
        return Self.reduce(m(l0), m(l1), m(l2), m(l3), m(l4))
    }

    /// Carries five 128-bit column sums back into 51-bit limbs.
    @inline(__always)
    private static func reduce(_ r0: UInt128, _ r1: UInt128, _ r2: UInt128, _ r3: UInt128, _ r4: UInt128) -> Curve25519FieldElement {
        let mask = UInt128(mask51)
        var c = r0 >> 51
        let h0 = UInt64(truncatingIfNeeded: r0 & mask)
        let s1 = r1 &+ c
        c = s1 >> 51
        let h1 = UInt64(truncatingIfNeeded: s1 & mask)
        let s2 = r2 &+ c
        c = s2 >> 51
        let h2 = UInt64(truncatingIfNeeded: s2 & mask)
        let s3 = r3 &+ c
        c = s3 >> 51
        let h3 = UInt64(truncatingIfNeeded: s3 & mask)
        let s4 = r4 &+ c
        c = s4 >> 51
        let h4 = UInt64(truncatingIfNeeded: s4 & mask)
        // c < 2^62 (columns are below 2^113), so fold 19c into l0 in 128 bits, then carry once into l1.
        let t0 = UInt128(h0) &+ c &* 19
        return Curve25519FieldElement(
            l0: UInt64(truncatingIfNeeded: t0 & mask),
            l1: h1 &+ UInt64(truncatingIfNeeded: t0 >> 51),
            l2: h2, l3: h3, l4: h4)
    }

    /// `self` squared `count` times in a row.
    @inline(__always)
    func squared(times count: Int) -> Curve25519FieldElement {
        var r = self
        for _ in 0..<count { r = r.squared }
        return r
    }

    /// Returns (self^(2^250 − 1), self^11), the shared start of ``inverse`` and ``powPMinus5Over8``.
    private func pow2to250Minus1() -> (Curve25519FieldElement, Curve25519FieldElement) {
        let z2 = squared                                  // 2
        let z9 = z2.squared(times: 2) * self              // 9
        let z11 = z9 * z2                                 // 11
        let z2to5 = z11.squared * z9                      // 2^5 − 1
        let z2to10 = z2to5.squared(times: 5) * z2to5      // 2^10 − 1
        let z2to20 = z2to10.squared(times: 10) * z2to10   // 2^20 − 1
        let z2to40 = z2to20.squared(times: 20) * z2to20   // 2^40 − 1
        let z2to50 = z2to40.squared(times: 10) * z2to10   // 2^50 − 1
        let z2to100 = z2to50.squared(times: 50) * z2to50  // 2^100 − 1
        let z2to200 = z2to100.squared(times: 100) * z2to100  // 2^200 − 1
        let z2to250 = z2to200.squared(times: 50) * z2to50  // 2^250 − 1
        return (z2to250, z11)
    }

    /// The multiplicative inverse, self^(p − 2); the inverse of 0 is 0 (as RFC 7748 and RFC 9380's
    /// `inv0` both want).
    var inverse: Curve25519FieldElement {
        let (z2to250, z11) = pow2to250Minus1()
        return z2to250.squared(times: 5) * z11  // 2^255 − 32 + 11 = p − 2
    }

    /// self^((p − 5) / 8) = self^(2^252 − 3), the exponent of the square-root step of RFC 9380's
    /// Elligator 2 for p ≡ 5 (mod 8).
    var powPMinus5Over8: Curve25519FieldElement {
        let (z2to250, _) = pow2to250Minus1()
        return z2to250.squared(times: 2) * self  // 2^252 − 4 + 1
    }

    /// Swaps `a` and `b` when `mask` is all-ones, leaves them when it is zero; constant time.
    @inline(__always)
    static func conditionalSwap(_ a: inout Curve25519FieldElement, _ b: inout Curve25519FieldElement, if mask: UInt64) {
        var t = mask & (a.l0 ^ b.l0)
        a.l0 ^= t
        b.l0 ^= t
        t = mask & (a.l1 ^ b.l1)
        a.l1 ^= t
        b.l1 ^= t
        t = mask & (a.l2 ^ b.l2)
        a.l2 ^= t
        b.l2 ^= t
        t = mask & (a.l3 ^ b.l3)
        a.l3 ^= t
        b.l3 ^= t
        t = mask & (a.l4 ^ b.l4)
        a.l4 ^= t
        b.l4 ^= t
    }

    /// `b` when `mask` is all-ones, `a` when it is zero (RFC 9380's CMOV(a, b, c)); constant time.
    @inline(__always)
    static func select(_ a: Curve25519FieldElement, _ b: Curve25519FieldElement, if mask: UInt64) -> Curve25519FieldElement {
        Curve25519FieldElement(
            l0: a.l0 ^ (mask & (a.l0 ^ b.l0)), l1: a.l1 ^ (mask & (a.l1 ^ b.l1)), l2: a.l2 ^ (mask & (a.l2 ^ b.l2)),
            l3: a.l3 ^ (mask & (a.l3 ^ b.l3)), l4: a.l4 ^ (mask & (a.l4 ^ b.l4)))
    }
}
