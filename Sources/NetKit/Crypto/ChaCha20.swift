#if _endian(big)
#error("ChaCha20 reads and writes state words as little-endian SIMD lanes; big-endian targets need byte swaps")
#endif

/// The ChaCha20 stream cipher (RFC 8439 §2.3–2.4): 256-bit key, 96-bit nonce, 32-bit block counter.
///
/// The mesh seals every link record with ``ChaCha20Poly1305``, so the key stream is made four blocks at a time:
/// each of the sixteen state words is a `SIMD4<UInt32>` whose lanes belong to four consecutive blocks, so every
/// add, xor and rotate of a round works on four blocks at once (plain SSE2 / NEON, no CPU feature checks).
/// Nothing in it depends on secret data except the values themselves: no branches, no table look-ups.
public struct ChaCha20: Sendable {
    /// Key length in bytes.
    public static let keyCount = 32
    /// Nonce length in bytes.
    public static let nonceCount = 12
    /// Key stream block length in bytes.
    public static let blockCount = 64

    /// The key as state words 4–11 (little-endian).
    let key: SIMD8<UInt32>

    /// - Parameter key: 32 bytes (precondition).
    public init(key: [UInt8]) {
        precondition(key.count == Self.keyCount, "ChaCha20 key must be 32 bytes, got \(key.count)")
        self.key = key.withUnsafeBytes { $0.loadUnaligned(as: SIMD8<UInt32>.self) }
    }

    /// One 64-byte key stream block: the ChaCha20 block function of RFC 8439 §2.3, serialized.
    ///
    /// - Parameters:
    ///   - counter: the block counter (state word 12).
    ///   - nonce: 12 bytes (precondition).
    public func block(counter: UInt32, nonce: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.blockCount)
        xor(counter: counter, nonce: nonce, &out)
        return out
    }

    /// Encrypts or decrypts `bytes` in place: XORs them with the key stream that starts at block `counter`
    /// (RFC 8439 §2.4).
    ///
    /// - Parameters:
    ///   - counter: the first block's counter; the blocks used must not run past 2³² − 1 (precondition).
    ///   - nonce: 12 bytes (precondition).
    public func xor(counter: UInt32, nonce: [UInt8], _ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { xor(counter: counter, nonce: nonce, $0) }
    }

    /// Encrypts or decrypts the bytes of `buffer` in place (the array form's rules apply).
    public func xor(counter: UInt32, nonce: [UInt8], _ buffer: UnsafeMutableRawBufferPointer) {
        precondition(nonce.count == Self.nonceCount, "ChaCha20 nonce must be 12 bytes, got \(nonce.count)")
        let words = nonce.withUnsafeBytes { Nonce(loading: $0.baseAddress!) }
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        let blocks = (UInt64(buffer.count) + 63) / 64
        precondition(UInt64(counter) + blocks <= 1 << 32, "ChaCha20 block counter would wrap")
        xorKeyStream(counter: counter, nonce: words, source: UnsafeRawPointer(base), destination: base, count: buffer.count)
    }

    // MARK: - Kernel

    /// State words 13–15.
    struct Nonce {
        var n0: UInt32
        var n1: UInt32
        var n2: UInt32

        init(_ n0: UInt32, _ n1: UInt32, _ n2: UInt32) {
            (self.n0, self.n1, self.n2) = (n0, n1, n2)
        }

        init(loading bytes: UnsafeRawPointer) {
            n0 = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            n1 = bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            n2 = bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        }
    }

    typealias Lane = SIMD4<UInt32>

    /// XORs `count` bytes at `source` with the key stream from block `counter` on, into `destination` (which may be
    /// `source`). The caller makes sure the counter does not wrap.
    @inline(__always)
    func xorKeyStream(
        counter: UInt32, nonce: Nonce, source: UnsafeRawPointer, destination: UnsafeMutableRawPointer, count: Int
    ) {
        var counter = counter
        var offset = 0
        while count - offset >= 4 * Self.blockCount {
            let stream = FourBlocks(key: key, counter: counter, nonce: nonce)
            stream.xor(source + offset, into: destination + offset)
            counter &+= 4
            offset += 4 * Self.blockCount
        }
        if offset < count {
            let stream = FourBlocks(key: key, counter: counter, nonce: nonce)
            withUnsafeTemporaryAllocation(byteCount: 4 * Self.blockCount, alignment: 16) { scratch in
                let ks = scratch.baseAddress!
                stream.write(to: ks)
                xorBytes(source + offset, ks, into: destination + offset, count: count - offset)
                ks.initializeMemory(as: UInt8.self, repeating: 0, count: 4 * Self.blockCount)
            }
        }
    }

    /// The quarter round of RFC 8439 §2.1 on four lanes at once.
    ///
    /// The rotations are written `(x << n) &+ (x >> (32 − n))`, not with `|`: LLVM turns the `|` form on `<4 x i32>`
    /// into a rotate, and on baseline x86-64 (SSE2 has no vector rotate) lowers that rotate lane by lane through
    /// general registers, about 3× slower than two vector shifts and an or, which is what the `&+` form (the same
    /// value, as the two halves share no bits) compiles to. (Swapping 16-bit halves with a lane shuffle for the
    /// rotation by 16 measured slower: LLVM turned it into a blend.)
    @inline(__always)
    static func quarterRound(_ a: inout Lane, _ b: inout Lane, _ c: inout Lane, _ d: inout Lane) {
        a &+= b
        d ^= a
        d = (d &<< 16) &+ (d &>> 16)
        c &+= d
        b ^= c
        b = (b &<< 12) &+ (b &>> 20)
        a &+= b
        d ^= a
        d = (d &<< 8) &+ (d &>> 24)
        c &+= d
        b ^= c
        b = (b &<< 7) &+ (b &>> 25)
    }

    /// Four consecutive key stream blocks, word-sliced: lane `j` of `x[i]` is word `i` of block `counter + j`.
    struct FourBlocks {
        var x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15: Lane

        /// - Parameter afterDoubleRound: called with 0…9 after each column-and-diagonal round, so that independent
        ///   scalar work (the AEAD's Poly1305) can be interleaved with the vector rounds.
        @inline(__always)
        init(key: SIMD8<UInt32>, counter: UInt32, nonce: Nonce, afterDoubleRound: (Int) -> Void = { _ in }) {
            let c0 = Lane(repeating: 0x6170_7865), c1 = Lane(repeating: 0x3320_646e)
            let c2 = Lane(repeating: 0x7962_2d32), c3 = Lane(repeating: 0x6b20_6574)
            let k0 = Lane(repeating: key[0]), k1 = Lane(repeating: key[1])
            let k2 = Lane(repeating: key[2]), k3 = Lane(repeating: key[3])
            let k4 = Lane(repeating: key[4]), k5 = Lane(repeating: key[5])
            let k6 = Lane(repeating: key[6]), k7 = Lane(repeating: key[7])
            let ctr = Lane(repeating: counter) &+ Lane(0, 1, 2, 3)
            let n0 = Lane(repeating: nonce.n0), n1 = Lane(repeating: nonce.n1), n2 = Lane(repeating: nonce.n2)

            var (x0, x1, x2, x3) = (c0, c1, c2, c3)
            var (x4, x5, x6, x7) = (k0, k1, k2, k3)
            var (x8, x9, x10, x11) = (k4, k5, k6, k7)
            var (x12, x13, x14, x15) = (ctr, n0, n1, n2)
            for round in 0..<10 {
                // Column round, then diagonal round (RFC 8439 §2.3).
                quarterRound(&x0, &x4, &x8, &x12)
                quarterRound(&x1, &x5, &x9, &x13)
                quarterRound(&x2, &x6, &x10, &x14)
                quarterRound(&x3, &x7, &x11, &x15)
                quarterRound(&x0, &x5, &x10, &x15)
                quarterRound(&x1, &x6, &x11, &x12)
                quarterRound(&x2, &x7, &x8, &x13)
                quarterRound(&x3, &x4, &x9, &x14)
                afterDoubleRound(round)
            }
            self.x0 = x0 &+ c0
            self.x1 = x1 &+ c1
            self.x2 = x2 &+ c2
            self.x3 = x3 &+ c3
            self.x4 = x4 &+ k0
            self.x5 = x5 &+ k1
            self.x6 = x6 &+ k2
            self.x7 = x7 &+ k3
            self.x8 = x8 &+ k4
            self.x9 = x9 &+ k5
            self.x10 = x10 &+ k6
            self.x11 = x11 &+ k7
            self.x12 = x12 &+ ctr
            self.x13 = x13 &+ n0
            self.x14 = x14 &+ n1
            self.x15 = x15 &+ n2
        }

        /// Rows `a…d` (one state word each, four blocks) turned into four 16-byte pieces, one per block.
        @inline(__always)
        static func transpose(_ a: Lane, _ b: Lane, _ c: Lane, _ d: Lane) -> (Lane, Lane, Lane, Lane) {
            (Lane(a[0], b[0], c[0], d[0]), Lane(a[1], b[1], c[1], d[1]),
             Lane(a[2], b[2], c[2], d[2]), Lane(a[3], b[3], c[3], d[3]))
        }

        /// XORs 256 bytes at `source` with the four blocks into `destination` (may equal `source`).
        @inline(__always)
        func xor(_ source: UnsafeRawPointer, into destination: UnsafeMutableRawPointer) {
            @inline(__always)
            func apply(_ piece: (Lane, Lane, Lane, Lane), at offset: Int) {
                let o0 = offset, o1 = offset + 64, o2 = offset + 128, o3 = offset + 192
                destination.storeBytes(
                    of: source.loadUnaligned(fromByteOffset: o0, as: Lane.self) ^ piece.0, toByteOffset: o0, as: Lane.self)
                destination.storeBytes(
                    of: source.loadUnaligned(fromByteOffset: o1, as: Lane.self) ^ piece.1, toByteOffset: o1, as: Lane.self)
                destination.storeBytes(
                    of: source.loadUnaligned(fromByteOffset: o2, as: Lane.self) ^ piece.2, toByteOffset: o2, as: Lane.self)
                destination.storeBytes(
                    of: source.loadUnaligned(fromByteOffset: o3, as: Lane.self) ^ piece.3, toByteOffset: o3, as: Lane.self)
            }
            apply(Self.transpose(x0, x1, x2, x3), at: 0)
            apply(Self.transpose(x4, x5, x6, x7), at: 16)
            apply(Self.transpose(x8, x9, x10, x11), at: 32)
            apply(Self.transpose(x12, x13, x14, x15), at: 48)
        }

        /// Writes the four blocks (256 bytes of key stream) to `destination`.
        @inline(__always)
        func write(to destination: UnsafeMutableRawPointer) {
            @inline(__always)
            func put(_ piece: (Lane, Lane, Lane, Lane), at offset: Int) {
                destination.storeBytes(of: piece.0, toByteOffset: offset, as: Lane.self)
                destination.storeBytes(of: piece.1, toByteOffset: offset + 64, as: Lane.self)
                destination.storeBytes(of: piece.2, toByteOffset: offset + 128, as: Lane.self)
                destination.storeBytes(of: piece.3, toByteOffset: offset + 192, as: Lane.self)
            }
            put(Self.transpose(x0, x1, x2, x3), at: 0)
            put(Self.transpose(x4, x5, x6, x7), at: 16)
            put(Self.transpose(x8, x9, x10, x11), at: 32)
            put(Self.transpose(x12, x13, x14, x15), at: 48)
        }
    }
}

/// `destination[i] = a[i] ^ b[i]` for `count` bytes, eight at a time while it can.
@inline(__always)
func xorBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, into destination: UnsafeMutableRawPointer, count: Int) {
    var i = 0
    while count - i >= 8 {
        let word = a.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        destination.storeBytes(of: word, toByteOffset: i, as: UInt64.self)
        i += 8
    }
    while i < count {
        let byte = a.load(fromByteOffset: i, as: UInt8.self) ^ b.load(fromByteOffset: i, as: UInt8.self)
        destination.storeBytes(of: byte, toByteOffset: i, as: UInt8.self)
        i += 1
    }
}
