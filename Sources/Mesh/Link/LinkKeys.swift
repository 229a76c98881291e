/// What a finished handshake hands to the record layer: one key per direction.
public struct LinkKeys: Sendable, Equatable {
    /// Seals what the dialer sends.
    public var dialerToAcceptor: [UInt8]
    /// Seals what the acceptor sends.
    public var acceptorToDialer: [UInt8]

    /// The key this side seals with (`role` = this side's role).
    public func sending(as role: Handshake.Role) -> [UInt8] { role == .dialer ? dialerToAcceptor : acceptorToDialer }
    /// The key this side opens the peer's records with.
    public func receiving(as role: Handshake.Role) -> [UInt8] { role == .dialer ? acceptorToDialer : dialerToAcceptor }
}
