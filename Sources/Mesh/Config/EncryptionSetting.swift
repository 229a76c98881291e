/// peers.json `encryption`: whether this replica asks for encrypted mesh links.
///
/// A link is encrypted when either end asks (the request is bound into the handshake, so it can't be stripped).
public enum EncryptionSetting: String, Sendable, Equatable, CaseIterable {
    /// Ask whenever this replica's or the peer's mesh address is not loopback (the default).
    case auto
    /// Always ask.
    case on
    /// Never ask (the link is still encrypted if the peer asks).
    case off

    /// Whether this side asks to encrypt the link between these two mesh addresses.
    public func wantsEncryption(local: HostPort, peer: HostPort) -> Bool {
        switch self {
        case .on: return true
        case .off: return false
        case .auto: return !local.isLoopback || !peer.isLoopback
        }
    }
}
