/// The AEAD_CHACHA20_POLY1305 authenticated cipher (RFC 8439 §2.8): 256-bit key, 96-bit nonce, 16-byte tag.
///
/// Used to seal mesh link records. The record layer numbers records with a 64-bit counter and uses the in-place
/// forms, which allocate nothing: ``nonce(counter:)`` shows the nonce they use (four zero bytes, then the counter
/// little-endian). Never seal two records with the same key and counter.
///
/// ```swift
/// let aead = ChaCha20Poly1305(key: key)
/// let sealed = aead.seal(nonce: ChaCha20Poly1305.nonce(counter: 7), plaintext: message, aad: header)
/// let opened = aead.open(nonce: ChaCha20Poly1305.nonce(counter: 7), sealed: sealed, aad: header)  // nil if tampered
/// ```
public struct ChaCha20Poly1305: Sendable {
    /// Key length in bytes.
    public static let keyCount = 32
    /// Nonce length in bytes.
    public static let nonceCount = 12
    /// Tag length in bytes.
    public static let tagCount = 16

    /// The largest text one nonce can seal: 2³² − 1 blocks of 64 bytes (block 0 makes the Poly1305 key).
    static let maxTextCount = (1 << 32 - 1) * 64

    private let cipher: ChaCha20

    /// - Parameter key: 32 bytes (precondition).
    public init(key: [UInt8]) {
        precondition(key.count == Self.keyCount, "ChaCha20-Poly1305 key must be 32 bytes, got \(key.count)")
        cipher = ChaCha20(key: key)
    }

    /// The RFC 8439 nonce for a 64-bit record counter: 4 zero bytes, then the counter little-endian.
    public static func nonce(counter: UInt64) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: nonceCount)
        for i in 0..<8 { nonce[4 + i] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(i))) }
        return nonce
    }

    // MARK: - Array forms

    /// Encrypts `plaintext` and authenticates it together with `aad`.
    ///
    /// - Parameters:
    ///   - nonce: 12 bytes (precondition), never reused with this key.
    ///   - plaintext: at most 256 GiB − 64 bytes (precondition).
    ///   - aad: associated data: authenticated, not encrypted, not included in the output.
    /// - Returns: the ciphertext followed by the 16-byte tag.
    public func seal(nonce: [UInt8], plaintext: [UInt8], aad: [UInt8] = []) -> [UInt8] {
        let words = Self.nonceWords(nonce)
        let count = plaintext.count
        precondition(count <= Self.maxTextCount, "ChaCha20-Poly1305 plaintext too long")
        var sealed = [UInt8](repeating: 0, count: count + Self.tagCount)
        sealed.withUnsafeMutableBytes { out in
            if count > 0 {
                plaintext.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: count) }
            }
            aad.withUnsafeBytes { aad in
                seal(
                    nonce: words, aad: aad, text: UnsafeMutableRawBufferPointer(rebasing: out[0..<count]),
                    tag: out.baseAddress! + count)
            }
        }
        return sealed
    }

    /// Checks and decrypts the output of ``seal(nonce:plaintext:aad:)``.
    ///
    /// - Returns: the plaintext, or `nil` when `sealed` is shorter than a tag or the tag does not match
    ///   (wrong key, nonce or AAD, or any byte changed).
    public func open(nonce: [UInt8], sealed: [UInt8], aad: [UInt8] = []) -> [UInt8]? {
        let words = Self.nonceWords(nonce)
        guard sealed.count >= Self.tagCount, sealed.count - Self.tagCount <= Self.maxTextCount else { return nil }
        let count = sealed.count - Self.tagCount
        var text = Array(sealed[0..<count])
        let opened = text.withUnsafeMutableBytes { text in
            aad.withUnsafeBytes { aad in
                sealed.withUnsafeBytes { sealed in
                    open(nonce: words, aad: aad, text: text, tag: sealed.baseAddress! + count)
                }
            }
        }
        return opened ? text : nil
    }

    // MARK: - In-place forms

    /// Encrypts `text` in place and writes the tag into `tag` (16 bytes), under the nonce ``nonce(counter:)``.
    ///
    /// - Parameters:
    ///   - counter: the record number; never reuse one with this key.
    ///   - aad: associated data (authenticated, not encrypted).
    ///   - text: the plaintext, replaced by the ciphertext; at most 256 GiB − 64 bytes (precondition).
    ///   - tag: at least 16 bytes (precondition); must not overlap `text`.
    public func seal(
        counter: UInt64, aad: UnsafeRawBufferPointer, text: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawBufferPointer
    ) {
        precondition(tag.count >= Self.tagCount, "ChaCha20-Poly1305 tag buffer must hold 16 bytes")
        precondition(text.count <= Self.maxTextCount, "ChaCha20-Poly1305 plaintext too long")
        seal(nonce: Self.nonceWords(counter: counter), aad: aad, text: text, tag: tag.baseAddress!)
    }

    /// Verifies `tag` over `text` (ciphertext) first; only when it matches decrypts `text` in place and returns true.
    ///
    /// When it returns false, `text` is unchanged (still the ciphertext).
    /// - Parameters:
    ///   - counter: the record number the sender sealed it with.
    ///   - tag: the received 16-byte tag (precondition: at least 16 bytes).
    public func open(
        counter: UInt64, aad: UnsafeRawBufferPointer, text: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer
    ) -> Bool {
        precondition(tag.count >= Self.tagCount, "ChaCha20-Poly1305 tag buffer must hold 16 bytes")
        guard text.count <= Self.maxTextCount else { return false }
        return open(nonce: Self.nonceWords(counter: counter), aad: aad, text: text, tag: tag.baseAddress!)
    }

    // MARK: - Construction

    private static func nonceWords(_ nonce: [UInt8]) -> ChaCha20.Nonce {
        precondition(nonce.count == nonceCount, "ChaCha20-Poly1305 nonce must be 12 bytes, got \(nonce.count)")
        return nonce.withUnsafeBytes { ChaCha20.Nonce(loading: $0.baseAddress!) }
    }

    @inline(__always)
    private static func nonceWords(counter: UInt64) -> ChaCha20.Nonce {
        ChaCha20.Nonce(0, UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32))
    }

    /// Key stream blocks 0–3 into `scratch` (256 bytes): block 0's first 32 bytes are the Poly1305 key (§2.6) and
    /// blocks 1–3 cover the first 192 bytes of text, so a small record needs a single pass of the block function.
    @inline(__always)
    private func firstBlocks(nonce: ChaCha20.Nonce, into scratch: UnsafeMutableRawPointer) {
        ChaCha20.FourBlocks(key: cipher.key, counter: 0, nonce: nonce).write(to: scratch)
    }

    /// XORs `text` with the key stream from block 1 on; blocks 1–3 are already in `scratch`.
    @inline(__always)
    private func crypt(nonce: ChaCha20.Nonce, scratch: UnsafeRawPointer, text: UnsafeMutableRawBufferPointer) {
        guard let base = text.baseAddress, !text.isEmpty else { return }
        let head = min(text.count, 3 * ChaCha20.blockCount)
        xorBytes(base, scratch + ChaCha20.blockCount, into: base, count: head)
        if text.count > head {
            cipher.xorKeyStream(counter: 4, nonce: nonce, source: base + head, destination: base + head, count: text.count - head)
        }
    }

    /// The Poly1305 tag of `aad | pad16 | ciphertext | pad16 | len(aad) | len(ciphertext)` (§2.8).
    @inline(__always)
    private func authenticate(
        scratch: UnsafeRawPointer, aad: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer,
        tag: UnsafeMutableRawPointer
    ) {
        var mac = Poly1305(key: scratch)
        mac.absorbPadded(aad.baseAddress, count: aad.count)
        mac.absorbPadded(ciphertext.baseAddress, count: ciphertext.count)
        mac.absorbLengths(aad: aad.count, text: ciphertext.count)
        mac.finalize(into: tag)
    }

    /// Encrypts and authenticates in one pass: each 256-byte piece is MACed right after it is encrypted, so the
    /// Poly1305 multiply chain (general registers) runs while the next piece's key stream (vector registers) is
    /// computed, and the piece is still in L1.
    private func seal(
        nonce: ChaCha20.Nonce, aad: UnsafeRawBufferPointer, text: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawPointer
    ) {
        withUnsafeTemporaryAllocation(byteCount: 4 * ChaCha20.blockCount, alignment: 16) { buffer in
            let scratch = buffer.baseAddress!
            firstBlocks(nonce: nonce, into: scratch)
            var mac = Poly1305(key: scratch)
            mac.absorbPadded(aad.baseAddress, count: aad.count)
            let count = text.count
            if let base = text.baseAddress, count > 0 {
                let head = min(count, 3 * ChaCha20.blockCount)
                xorBytes(base, scratch + ChaCha20.blockCount, into: base, count: head)
                if count == head {
                    mac.absorbPadded(base, count: count)
                } else {
                    mac.absorb(base, count: head, highBit: 1)  // 192 bytes: whole MAC blocks
                    var offset = head
                    var counter: UInt32 = 4
                    // The previous 256-byte piece, MACed two blocks per double round of the next piece's key stream.
                    var previous: UnsafeRawPointer?
                    while count - offset >= 4 * ChaCha20.blockCount {
                        let stream: ChaCha20.FourBlocks
                        if let previous {
                            stream = ChaCha20.FourBlocks(key: cipher.key, counter: counter, nonce: nonce) { round in
                                if round < 8 { mac.absorb(previous + 32 * round, count: 32, highBit: 1) }
                            }
                        } else {
                            stream = ChaCha20.FourBlocks(key: cipher.key, counter: counter, nonce: nonce)
                        }
                        stream.xor(base + offset, into: base + offset)
                        previous = UnsafeRawPointer(base + offset)
                        counter &+= 4
                        offset += 4 * ChaCha20.blockCount
                    }
                    if let previous { mac.absorb(previous, count: 4 * ChaCha20.blockCount, highBit: 1) }
                    if offset < count {
                        ChaCha20.FourBlocks(key: cipher.key, counter: counter, nonce: nonce).write(to: scratch)
                        xorBytes(base + offset, scratch, into: base + offset, count: count - offset)
                        mac.absorbPadded(base + offset, count: count - offset)
                    }
                }
            }
            mac.absorbLengths(aad: aad.count, text: count)
            mac.finalize(into: tag)
            scratch.initializeMemory(as: UInt8.self, repeating: 0, count: 4 * ChaCha20.blockCount)
        }
    }

    private func open(
        nonce: ChaCha20.Nonce, aad: UnsafeRawBufferPointer, text: UnsafeMutableRawBufferPointer, tag: UnsafeRawPointer
    ) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: 4 * ChaCha20.blockCount, alignment: 16) { buffer in
            let scratch = buffer.baseAddress!
            firstBlocks(nonce: nonce, into: scratch)
            var expected: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &expected) {
                authenticate(scratch: scratch, aad: aad, ciphertext: UnsafeRawBufferPointer(text), tag: $0.baseAddress!)
            }
            let valid = withUnsafeBytes(of: expected) { Poly1305.tagsEqual($0.baseAddress!, tag) }
            if valid { crypt(nonce: nonce, scratch: scratch, text: text) }
            scratch.initializeMemory(as: UInt8.self, repeating: 0, count: 4 * ChaCha20.blockCount)
            return valid
        }
    }
}
