/// `expand_message_xmd` with SHA-256 (RFC 9380 §5.3.1): stretches a message into `length` uniformly
/// random bytes under a domain separation tag (DST).
///
/// Used by ``CPace`` to hash the password into a field element (``Curve25519FieldElement/hashToField(message:dst:count:)``),
/// which Elligator 2 then maps to the curve.
public enum ExpandMessageXMD {
    /// The largest output, 255 blocks of 32 bytes (RFC 9380 §5.3.1 step 2).
    public static let maxLength = 255 * SHA256.digestCount

    /// Input outside what RFC 9380 allows.
    public enum InputError: Error, Equatable, Sendable {
        /// `length` is 0 or above ``ExpandMessageXMD/maxLength``.
        case length(Int)
        /// The DST is empty (RFC 9380 §3.1 asks for a non-empty tag).
        case emptyDST
    }

    /// Prefix of the hashed DST used when a tag is longer than 255 bytes (RFC 9380 §5.3.3).
    private static let oversizeDSTPrefix = Array("H2C-OVERSIZE-DST-".utf8)

    /// expand_message_xmd(msg, DST, len_in_bytes) with H = SHA-256.
    ///
    /// A DST longer than 255 bytes is replaced by SHA-256("H2C-OVERSIZE-DST-" || DST), as §5.3.3 says.
    /// - Throws: ``InputError`` for a length of 0 or above 8160, or an empty DST.
    public static func sha256(message: [UInt8], dst: [UInt8], length: Int) throws(InputError) -> [UInt8] {
        guard length > 0, length <= maxLength else { throw .length(length) }
        guard !dst.isEmpty else { throw .emptyDST }
        let tag = dst.count > 255 ? SHA256.hash(oversizeDSTPrefix + dst) : dst
        let dstPrime = tag + [UInt8(tag.count)]
        let blocks = (length + SHA256.digestCount - 1) / SHA256.digestCount

        // msg' = Z_pad || msg || I2OSP(len, 2) || I2OSP(0, 1) || DST'
        var messagePrime = [UInt8](repeating: 0, count: SHA256.blockCount)
        messagePrime.reserveCapacity(SHA256.blockCount + message.count + 3 + dstPrime.count)
        messagePrime.append(contentsOf: message)
        messagePrime.append(UInt8(truncatingIfNeeded: length >> 8))
        messagePrime.append(UInt8(truncatingIfNeeded: length))
        messagePrime.append(0)
        messagePrime.append(contentsOf: dstPrime)
        let b0 = SHA256.hash(messagePrime)

        // b_1 = H(b_0 || 1 || DST'), b_i = H((b_0 XOR b_(i-1)) || i || DST').
        var output = [UInt8]()
        output.reserveCapacity(blocks * SHA256.digestCount)
        var previous = SHA256.hash(b0 + [1] + dstPrime)
        output.append(contentsOf: previous)
        var index = 2
        while index <= blocks {
            var input = [UInt8](repeating: 0, count: SHA256.digestCount)
            for i in 0..<SHA256.digestCount { input[i] = b0[i] ^ previous[i] }
            input.append(UInt8(index))
            input.append(contentsOf: dstPrime)
            previous = SHA256.hash(input)
            output.append(contentsOf: previous)
            index += 1
        }
        return Array(output[0..<length])
    }
}
