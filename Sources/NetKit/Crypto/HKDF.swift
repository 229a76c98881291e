/// HKDF with HMAC-SHA256 (RFC 5869): turns a shared secret into independent keys.
///
/// The mesh derives its per-link, per-direction record keys with it. Inputs are small (a few dozen bytes) and it
/// runs once per link, so it simply builds on ``HMACSHA256``.
public enum HKDFSHA256 {
    /// Length of the pseudorandom key `extract` returns (one SHA-256 digest).
    public static let prkCount = SHA256.digestCount
    /// The most `expand` can return: 255 digests.
    public static let maxOutputCount = 255 * SHA256.digestCount

    /// HKDF-Extract: `PRK = HMAC-SHA256(salt, ikm)`; an empty salt stands for 32 zero bytes (RFC 5869 §2.2).
    ///
    /// - Returns: the 32-byte pseudorandom key.
    public static func extract(salt: [UInt8], ikm: [UInt8]) -> [UInt8] {
        let key = salt.isEmpty ? [UInt8](repeating: 0, count: SHA256.digestCount) : salt
        return HMACSHA256.authenticationCode(key: key, message: ikm)
    }

    /// HKDF-Expand: `T(i) = HMAC-SHA256(prk, T(i−1) | info | i)`, concatenated and cut to `count` bytes (§2.3).
    ///
    /// - Parameters:
    ///   - prk: the pseudorandom key, normally from ``extract(salt:ikm:)``.
    ///   - info: context that makes keys for different purposes independent.
    ///   - count: output length, 0…8160 (255 × 32; precondition).
    public static func expand(prk: [UInt8], info: [UInt8], count: Int) -> [UInt8] {
        precondition(count >= 0 && count <= maxOutputCount, "HKDF-SHA256 output must be 0…\(maxOutputCount) bytes, got \(count)")
        var output = [UInt8]()
        output.reserveCapacity(count)
        var previous = [UInt8]()
        var index: UInt8 = 1
        while output.count < count {
            previous = HMACSHA256.authenticationCode(key: prk, message: previous + info + [index])
            output.append(contentsOf: previous.prefix(count - output.count))
            index &+= 1
        }
        return output
    }

    /// Extract then expand: `count` bytes of key material from `ikm`.
    public static func derive(ikm: [UInt8], salt: [UInt8], info: [UInt8], count: Int) -> [UInt8] {
        expand(prk: extract(salt: salt, ikm: ikm), info: info, count: count)
    }
}
