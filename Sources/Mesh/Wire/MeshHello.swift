/// HELLO body: who is talking, for which cluster, a fresh nonce, and what the sender asks of the link.
public struct MeshHello: Sendable, Hashable {
    /// Flag bit: the sender wants the link encrypted (it is when either side asks).
    public static let encryptFlag: UInt8 = 0x01

    public var protocolVersion: UInt16
    public var cluster: String
    public var nodeId: String
    public var epoch: UInt64
    public var nonce: [UInt8]
    /// ``encryptFlag``; other bits are reserved (sent as 0, bound into the handshake like everything else).
    public var flags: UInt8

    public init(
        protocolVersion: UInt16 = MeshProtocol.version, cluster: String, nodeId: String, epoch: UInt64, nonce: [UInt8],
        flags: UInt8 = 0
    ) {
        self.protocolVersion = protocolVersion
        self.cluster = cluster
        self.nodeId = nodeId
        self.epoch = epoch
        self.nonce = nonce
        self.flags = flags
    }

    public var wantsEncryption: Bool { flags & MeshHello.encryptFlag != 0 }
}
