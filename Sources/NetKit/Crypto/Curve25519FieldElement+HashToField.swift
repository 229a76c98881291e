extension Curve25519FieldElement {
    /// Bytes of uniform output per field element: L = ⌈(⌈log2 p⌉ + k) / 8⌉ = ⌈(255 + 128) / 8⌉ = 48,
    /// so that the reduction mod p is within 2^−128 of uniform (RFC 9380 §5).
    static let hashToFieldLength = 48

    /// `hash_to_field(msg, count)` of RFC 9380 §5.2 for GF(2^255 − 19), with expand_message_xmd(SHA-256).
    ///
    /// Each element is the next 48 bytes of ``ExpandMessageXMD/sha256(message:dst:length:)`` read as a
    /// big-endian integer and reduced mod p.
    /// - Throws: ``ExpandMessageXMD/InputError`` when `count` is below 1 or asks for more than 8160
    ///   bytes, or the DST is empty.
    static func hashToField(message: [UInt8], dst: [UInt8], count: Int) throws(ExpandMessageXMD.InputError) -> [Curve25519FieldElement] {
        guard count >= 1, count <= ExpandMessageXMD.maxLength / hashToFieldLength else {
            throw .length(count * hashToFieldLength)
        }
        let uniform = try ExpandMessageXMD.sha256(message: message, dst: dst, length: count * hashToFieldLength)
        return (0..<count).map { i in
            let start = i * hashToFieldLength
            return reducing(bigEndian: Array(uniform[start..<(start + hashToFieldLength)]))
        }
    }

    /// OS2IP(bytes) mod p for 48 big-endian bytes, in constant time.
    static func reducing(bigEndian bytes: [UInt8]) -> Curve25519FieldElement {
        precondition(bytes.count == hashToFieldLength, "hash_to_field reduces 48 bytes")
        let littleEndian = Array(bytes.reversed())
        // v = low + 2^256 · high, with low the first 32 little-endian bytes and high the last 16.
        // low = (low mod 2^255) + b · 2^255 with b its top bit; 2^255 ≡ 19 and 2^256 ≡ 38 (mod p).
        let low = Array(littleEndian[0..<32])
        let topBit = UInt64(low[31] >> 7)
        let high = Array(littleEndian[32..<48]) + [UInt8](repeating: 0, count: 16)
        let foldedTopBit = Curve25519FieldElement(l0: 19 &* topBit, l1: 0, l2: 0, l3: 0, l4: 0)
        return Curve25519FieldElement(bytes: low) + foldedTopBit + Curve25519FieldElement(bytes: high).times(38)
    }
}
