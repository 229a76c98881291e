/// Protocol version carried in HELLO; a peer speaking another version is rejected.
public enum MeshProtocol {
    /// 2: PAKE handshake (HELLO with flags, SHARE, CONFIRM) and optionally encrypted links. 1: HMAC proofs.
    public static let version: UInt16 = 2
    public static let nonceCount = 32
    public static let macCount = 32
    /// Length of a PAKE share (an X25519 u-coordinate).
    public static let shareCount = 32
    /// Bytes of framing in front of every frame body: u32 length + u8 type.
    public static let headerCount = 5
    /// Default largest frame (type + body) a peer may send.
    public static let defaultMaxFrameBytes = 4 << 20
    /// Default largest frame before the link is authenticated (handshake frames are well under this).
    public static let defaultMaxHandshakeFrameBytes = 1024
    /// Longest REJECT reason put on the wire (they are short diagnostics).
    public static let maxRejectReasonBytes = 200
}
