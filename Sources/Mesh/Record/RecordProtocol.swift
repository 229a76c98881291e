import NetKit

/// Record layer constants of an encrypted link.
///
/// After the handshake of an encrypted link every byte it carries, in each direction, is a sequence of records:
/// `[u32 BE plaintext length][ciphertext][16-byte tag]`, ChaCha20-Poly1305 under that direction's key, the nonce
/// being the record's number (never sent), the length header as associated data. The plaintext stream inside is
/// the ordinary frame stream (``MeshFrame``), cut into records wherever the sender wrote.
public enum RecordProtocol {
    /// Largest plaintext of one record (64 KiB): what a receiver must buffer before it can authenticate anything.
    public static let maxRecordBytes = 64 << 10
    /// Bytes of the length header.
    public static let headerCount = 4
    /// Bytes added to every record (header and tag).
    public static let overheadCount = headerCount + ChaCha20Poly1305.tagCount
}
