/// SHA-1 (FIPS 180-4), written from scratch because Linux Foundation has no SHA-1.
///
/// SHA-1 is broken for collision resistance; here it is used only where a protocol demands it
/// (the WebSocket `Sec-WebSocket-Accept` value), never for security decisions.
///
/// ```swift
/// let digest = SHA1.hash(Array("abc".utf8))   // 20 bytes: a9 99 3e 36 …
/// ```
public enum SHA1 {
    /// The digest length in bytes.
    public static let digestLength = 20

    /// Hashes `bytes` in one go.
    /// - Parameter bytes: the message.
    /// - Returns: the 20-byte digest.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        var w = [UInt32](repeating: 0, count: 80)

        // Whole blocks straight from the input: no copy of the message is made.
        let fullBlocks = bytes.count / 64
        bytes.withUnsafeBytes { raw in
            for block in 0..<fullBlocks {
                compress(&h, &w, UnsafeRawBufferPointer(rebasing: raw[(block * 64)..<(block * 64 + 64)]))
            }
        }

        // The tail: remaining bytes, 0x80, zero padding, then the bit length as a big-endian UInt64.
        // It fills one block, or two when fewer than 9 bytes of room are left.
        var tail = [UInt8](bytes[(fullBlocks * 64)...])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        let bitLength = UInt64(bytes.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        tail.withUnsafeBytes { raw in
            for block in 0..<(tail.count / 64) {
                compress(&h, &w, UnsafeRawBufferPointer(rebasing: raw[(block * 64)..<(block * 64 + 64)]))
            }
        }

        var digest = [UInt8]()
        digest.reserveCapacity(digestLength)
        for word in [h.0, h.1, h.2, h.3, h.4] {
            digest.append(UInt8(truncatingIfNeeded: word >> 24))
            digest.append(UInt8(truncatingIfNeeded: word >> 16))
            digest.append(UInt8(truncatingIfNeeded: word >> 8))
            digest.append(UInt8(truncatingIfNeeded: word))
        }
        return digest
    }

    /// One application of the compression function to a 64-byte block.
    /// `w` is scratch space for the 80-word message schedule, passed in so it is allocated once per hash.
    private static func compress(
        _ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32), _ w: inout [UInt32], _ block: UnsafeRawBufferPointer
    ) {
        w.withUnsafeMutableBufferPointer { w in
            for t in 0..<16 {
                w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self))
            }
            for t in 16..<80 {
                w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1)
            }
            var (a, b, c, d, e) = h
            for t in 0..<80 {
                let f: UInt32
                let k: UInt32
                switch t {
                case 0..<20:
                    f = (b & c) | (~b & d)
                    k = 0x5A82_7999
                case 20..<40:
                    f = b ^ c ^ d
                    k = 0x6ED9_EBA1
                case 40..<60:
                    f = (b & c) | (b & d) | (c & d)
                    k = 0x8F1B_BCDC
                default:
                    f = b ^ c ^ d
                    k = 0xCA62_C1D6
                }
                let temp = rotl(a, 5) &+ f &+ e &+ k &+ w[t]
                e = d
                d = c
                c = rotl(b, 30)
                b = a
                a = temp
            }
            h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
        }
    }

    @inline(__always)
    private static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x << n) | (x >> (32 - n))
    }
}
