/// This node as it introduces itself in a handshake.
public struct HandshakeIdentity: Sendable, Equatable {
    public var cluster: String
    public var nodeId: String
    public var epoch: UInt64
    public var secret: [UInt8]

    public init(cluster: String, nodeId: String, epoch: UInt64, secret: [UInt8]) {
        self.cluster = cluster
        self.nodeId = nodeId
        self.epoch = epoch
        self.secret = secret
    }
}
