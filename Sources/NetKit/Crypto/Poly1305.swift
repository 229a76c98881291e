/// The Poly1305 one-time authenticator (RFC 8439 §2.5), incremental.
///
/// The accumulator is kept in radix 2⁶⁴: `h = h0 + h1·2⁶⁴ + h2·2¹²⁸` with `h2` a few bits only, so each 16-byte block
/// costs four 64×64→128-bit multiplications. Clamping leaves `r1` divisible by 4, which lets the 2¹³⁰ ≡ 5 (mod p)
/// wrap-around fold into the precomputed `s1 = r1 + r1/4`. Every step runs the same instructions whatever the
/// key and message: no secret-dependent branches, no table look-ups; the final reduction selects with a mask.
///
/// - Important: a key must authenticate one message only. ``ChaCha20Poly1305`` derives a fresh one per nonce.
public struct Poly1305: Sendable {
    /// Key length in bytes (`r` then `s`).
    public static let keyCount = 32
    /// Tag length in bytes.
    public static let tagCount = 16
    /// Block length in bytes.
    public static let blockCount = 16

    // Clamped r, and s1 = r1 + (r1 >> 2) = 5·r1/4.
    private let r0: UInt64
    private let r1: UInt64
    private let s1: UInt64
    // The final addend s.
    private let pad: UInt128
    // Accumulator.
    private var h0: UInt64 = 0
    private var h1: UInt64 = 0
    private var h2: UInt64 = 0
    // A partial block waiting for more bytes (incremental use only).
    private var pending: (UInt64, UInt64) = (0, 0)
    private var pendingCount = 0

    /// - Parameter key: the 32-byte one-time key (precondition): `r` (clamped here) then `s`.
    public init(key: [UInt8]) {
        precondition(key.count == Self.keyCount, "Poly1305 key must be 32 bytes, got \(key.count)")
        self = key.withUnsafeBytes { Poly1305(key: $0.baseAddress!) }
    }

    /// Reads the 32-byte key at `key`.
    init(key: UnsafeRawPointer) {
        let rawR0 = UInt64(littleEndian: key.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let rawR1 = UInt64(littleEndian: key.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        r0 = rawR0 & 0x0fff_fffc_0fff_ffff
        r1 = rawR1 & 0x0fff_fffc_0fff_fffc
        s1 = r1 &+ (r1 &>> 2)
        let s0 = UInt64(littleEndian: key.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let s1High = UInt64(littleEndian: key.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        pad = UInt128(s1High) &<< 64 | UInt128(s0)
    }

    /// One-shot: the 16-byte tag of `message` under `key`.
    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var mac = Poly1305(key: key)
        mac.update(message)
        return mac.finalize()
    }

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds the bytes of `buffer` to the message.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard var p = buffer.baseAddress, !buffer.isEmpty else { return }
        var n = buffer.count
        if pendingCount > 0 {
            let take = min(Self.blockCount - pendingCount, n)
            let filled = pendingCount
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.advanced(by: filled).copyMemory(from: p, byteCount: take) }
            pendingCount += take
            p += take
            n -= take
            guard pendingCount == Self.blockCount else { return }
            let block = pending
            withUnsafeBytes(of: block) { absorb($0.baseAddress!, count: Self.blockCount, highBit: 1) }
            pendingCount = 0
        }
        let whole = n & ~(Self.blockCount - 1)
        if whole > 0 { absorb(p, count: whole, highBit: 1) }
        if whole < n {
            pending = (0, 0)
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: p + whole, byteCount: n - whole) }
            pendingCount = n - whole
        }
    }

    /// The 16-byte tag of everything passed to `update` so far.
    public func finalize() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.tagCount) { buffer, count in
            finalize(into: UnsafeMutableRawPointer(buffer.baseAddress!))
            count = Self.tagCount
        }
    }

    /// Writes the 16-byte tag to `tag`.
    func finalize(into tag: UnsafeMutableRawPointer) {
        var copy = self
        if copy.pendingCount > 0 {
            // The short last block: its bytes, a 1 byte, zeros; no 2^128 bit.
            var block = copy.pending
            let n = copy.pendingCount
            withUnsafeMutableBytes(of: &block) { $0[n] = 1 }
            withUnsafeBytes(of: block) { copy.absorb($0.baseAddress!, count: Self.blockCount, highBit: 0) }
        }
        copy.writeTag(to: tag)
    }

    // MARK: - AEAD helpers (RFC 8439 §2.8): whole 16-byte blocks only, no partial-block buffering.

    /// Absorbs `count` bytes followed by zeros up to a multiple of 16 (`pad16`), every block with its 2¹²⁸ bit.
    @inline(__always)
    mutating func absorbPadded(_ bytes: UnsafeRawPointer?, count: Int) {
        guard let bytes, count > 0 else { return }
        let whole = count & ~(Self.blockCount - 1)
        if whole > 0 { absorb(bytes, count: whole, highBit: 1) }
        if whole < count {
            var block: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &block) { $0.baseAddress!.copyMemory(from: bytes + whole, byteCount: count - whole) }
            withUnsafeBytes(of: block) { absorb($0.baseAddress!, count: Self.blockCount, highBit: 1) }
        }
    }

    /// Absorbs the final AEAD block: both lengths as 64-bit little-endian integers.
    @inline(__always)
    mutating func absorbLengths(aad: Int, text: Int) {
        let block: (UInt64, UInt64) = (UInt64(aad).littleEndian, UInt64(text).littleEndian)
        withUnsafeBytes(of: block) { absorb($0.baseAddress!, count: Self.blockCount, highBit: 1) }
    }

    // MARK: - Arithmetic

    /// `h = (h + block + highBit·2¹²⁸) · r mod p` (partially reduced) for each 16-byte block; `count` is a multiple of 16.
    @inline(__always)
    mutating func absorb(_ p: UnsafeRawPointer, count: Int, highBit: UInt64) {
        var (h0, h1, h2) = (self.h0, self.h1, self.h2)
        let (r0, r1, s1) = (self.r0, self.r1, self.s1)
        var offset = 0
        while offset < count {
            let m0 = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            let m1 = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            // h += m (h2 ≤ 4 before, so ≤ 6 after).
            let (sum, carry) = (UInt128(h1) &<< 64 | UInt128(h0)).addingReportingOverflow(UInt128(m1) &<< 64 | UInt128(m0))
            h0 = UInt64(truncatingIfNeeded: sum)
            h1 = UInt64(truncatingIfNeeded: sum &>> 64)
            h2 = h2 &+ highBit &+ UInt64(carry ? 1 : 0)
            // h · r, with h1·r1·2¹²⁸ ≡ h1·s1 and h2·r1·2¹⁹² ≡ h2·s1·2⁶⁴ (mod p). Bounds: r0, r1 < 2⁶⁰, s1 < 2⁶¹,
            // so d0, d1 < 2¹²⁷ and d2 < 2⁶³.
            let d0 = UInt128(h0) &* UInt128(r0) &+ UInt128(h1) &* UInt128(s1)
            var d1 = UInt128(h0) &* UInt128(r1) &+ UInt128(h1) &* UInt128(r0) &+ UInt128(h2 &* s1)
            var d2 = h2 &* r0
            d1 &+= d0 &>> 64
            d2 &+= UInt64(truncatingIfNeeded: d1 &>> 64)
            // Partial reduction: the bits above 2¹³⁰, times 5, go back to the bottom.
            let fold = (d2 &>> 2) &+ (d2 & ~3)
            let low = (UInt128(UInt64(truncatingIfNeeded: d1)) &<< 64 | UInt128(UInt64(truncatingIfNeeded: d0)))
            let (reduced, overflow) = low.addingReportingOverflow(UInt128(fold))
            h0 = UInt64(truncatingIfNeeded: reduced)
            h1 = UInt64(truncatingIfNeeded: reduced &>> 64)
            h2 = (d2 & 3) &+ UInt64(overflow ? 1 : 0)
            offset += Self.blockCount
        }
        (self.h0, self.h1, self.h2) = (h0, h1, h2)
    }

    /// Final reduction mod p = 2¹³⁰ − 5, plus s, low 128 bits little-endian.
    @inline(__always)
    private func writeTag(to tag: UnsafeMutableRawPointer) {
        // h < 5·2¹²⁸ < 2p here, so one conditional subtraction of p suffices: if h + 5 ≥ 2¹³⁰, take h + 5 − 2¹³⁰.
        let h = UInt128(h1) &<< 64 | UInt128(h0)
        let (g, carry) = h.addingReportingOverflow(5)
        let g2 = h2 &+ UInt64(carry ? 1 : 0)
        let mask = 0 &- (g2 &>> 2)  // all ones when h ≥ p
        let select = UInt128(mask) &<< 64 | UInt128(mask)
        let reduced = (h & ~select) | (g & select)
        let result = reduced &+ pad
        tag.storeBytes(of: UInt64(truncatingIfNeeded: result).littleEndian, toByteOffset: 0, as: UInt64.self)
        tag.storeBytes(of: UInt64(truncatingIfNeeded: result &>> 64).littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    /// Compares two 16-byte tags in time that does not depend on where (or whether) they differ.
    @inline(__always)
    static func tagsEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Bool {
        let difference = (a.loadUnaligned(fromByteOffset: 0, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            | (a.loadUnaligned(fromByteOffset: 8, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        return difference == 0
    }
}
