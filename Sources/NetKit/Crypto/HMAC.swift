/// HMAC-SHA256 (RFC 2104 / RFC 4231), one-shot.
///
/// Used by the mesh handshake so that both replicas prove knowledge of the cluster secret without
/// ever sending it.
public enum HMACSHA256 {
    /// Returns the 32-byte authentication code of `message` under `key`.
    ///
    /// Keys longer than the SHA-256 block (64 bytes) are hashed first, as RFC 2104 requires.
    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var blockKey = key.count > SHA256.blockCount ? SHA256.hash(key) : key
        blockKey.append(contentsOf: repeatElement(0, count: SHA256.blockCount - blockKey.count))

        var inner = [UInt8]()
        inner.reserveCapacity(SHA256.blockCount + message.count)
        for byte in blockKey { inner.append(byte ^ 0x36) }
        inner.append(contentsOf: message)
        let innerHash = SHA256.hash(inner)

        var outer = [UInt8]()
        outer.reserveCapacity(SHA256.blockCount + SHA256.digestCount)
        for byte in blockKey { outer.append(byte ^ 0x5c) }
        outer.append(contentsOf: innerHash)
        return SHA256.hash(outer)
    }
}

/// Compares two byte strings in time that depends only on their lengths, not on where they differ.
///
/// An early-exit `==` on a MAC lets an attacker learn a valid code byte by byte from response
/// timing; this touches every byte whatever the contents.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for i in 0..<a.count { difference |= a[i] ^ b[i] }
    return difference == 0
}
