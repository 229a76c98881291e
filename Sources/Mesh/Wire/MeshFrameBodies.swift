/// "(origin, epoch, seq)": used by RESUME (where to continue) and ACK (what arrived).
public struct OriginCursor: Sendable, Hashable {
    public var origin: String
    public var epoch: UInt64
    public var seq: UInt64

    public init(origin: String, epoch: UInt64, seq: UInt64) {
        self.origin = origin
        self.epoch = epoch
        self.seq = seq
    }
}

/// One entry of a LINKS frame: the sender's view of its direct link to `peerId`, and what it holds of
/// `peerId`'s messages (what it could relay).
public struct LinkReport: Sendable, Hashable {
    public var peerId: String
    public var peerEpoch: UInt64
    public var up: Bool
    /// The life of `peerId` the sender's log of its messages belongs to (0: it holds none).
    public var heldEpoch: UInt64
    /// From this seq of `heldEpoch` on, the sender holds every message of `peerId` but those the origin
    /// itself reported lost (``OriginLog/heldFrom``; 0 when `heldEpoch` is 0). A relayer that joined the
    /// life midway can't feed a receiver whose cursor is below it.
    public var heldFrom: UInt64

    public init(peerId: String, peerEpoch: UInt64, up: Bool, heldEpoch: UInt64 = 0, heldFrom: UInt64 = 0) {
        self.peerId = peerId
        self.peerEpoch = peerEpoch
        self.up = up
        self.heldEpoch = heldEpoch
        self.heldFrom = heldFrom
    }

    /// Whether a relayer with this report can feed, with no message missing that the origin may still hold,
    /// a receiver at `cursor` (its epoch and highest delivered seq of `peerId`; epoch 0 = it knows nothing,
    /// wants only new messages).
    public func covers(epoch: UInt64, seq: UInt64) -> Bool {
        if epoch == 0 { return true }
        guard heldEpoch != 0 else { return false }
        if heldEpoch == epoch { return heldFrom <= seq &+ 1 }
        // A newer life is all news to the receiver: only a log holding it from its start will do.
        return heldEpoch > epoch && heldFrom <= 1
    }
}

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

/// DATA body: one message of `origin`'s life `epoch`, numbered `seq`.
public struct MeshData: Sendable, Hashable {
    /// Bit 0: the sender knowingly skipped messages before this one (they were evicted from its log, or the
    /// origin reported them lost): nobody has them any more.
    public static let gapBeforeFlag: UInt8 = 0x01
    /// Bit 1: a relayer skipped messages before this one that it never held (it joined the origin's life
    /// later); the origin may still have them. The receiver decides: it takes the skip only when it chose
    /// this relayer knowing that, and otherwise drops the frame and looks for a better route.
    public static let notHeldBeforeFlag: UInt8 = 0x02

    public var origin: String
    public var epoch: UInt64
    public var seq: UInt64
    public var flags: UInt8
    public var payload: [UInt8]

    public init(origin: String, epoch: UInt64, seq: UInt64, flags: UInt8 = 0, payload: [UInt8]) {
        self.origin = origin
        self.epoch = epoch
        self.seq = seq
        self.flags = flags
        self.payload = payload
    }

    public var gapBefore: Bool { flags & MeshData.gapBeforeFlag != 0 }
    public var notHeldBefore: Bool { flags & MeshData.notHeldBeforeFlag != 0 }
}
