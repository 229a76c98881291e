import NetKit

/// One TCP connection between this node and a peer, from the first byte of the handshake to close.
///
/// Owned by the ``MeshNode`` and confined to its loop. The link holds what belongs to *this*
/// connection (its ``LinkState``, decoder, handshake, record keys, per-origin write cursors); what must survive a
/// reconnect (counters, backoff, receive state) lives in the node's per-peer record (``MeshNode/Peer``).
final class PeerLink {
    /// Where we are in sending one origin's log to this peer.
    struct Feed {
        var origin: String
        /// The origin life the cursor refers to; when our log moves to a newer life the feed restarts at 0.
        var epoch: UInt64
        /// Last seq handed to the socket, or passed over because it was not for the peer.
        var cursor: UInt64
        /// Last seq actually sent (the cursor the feed started from before any).
        var lastSent: UInt64
        /// Own messages passed over since `lastSent` (not for the peer): the FILTERED_BEFORE of the next frame.
        var pending: FilteredRange?
        /// An eviction was crossed among them: the next frame also says GAP_BEFORE.
        var pendingGap = false

        init(origin: String, epoch: UInt64, cursor: UInt64) {
            self.origin = origin
            self.epoch = epoch
            self.cursor = cursor
            self.lastSent = cursor
        }

        /// Starts over at `cursor` of `epoch` (the origin's new life).
        mutating func restart(epoch: UInt64, cursor: UInt64) {
            self = Feed(origin: origin, epoch: epoch, cursor: cursor)
        }
    }

    let connection: TCPConnection
    let role: Handshake.Role
    /// Acceptor: the source the auth throttle counts this connection's failures against (``AuthThrottle/sourceKey(host:)``).
    var source: String?
    /// Peer id: known from the start for a dialer, from HELLO for an acceptor.
    var peerId: String?
    var peerEpoch: UInt64?

    /// Handshaking, established or closed (see ``LinkState``).
    var state: LinkState
    /// The handshake's own state machine. Kept once it is over: what it says about authentication is read when the
    /// link closes (the auth throttles), its keys when it is established.
    var handshake: Handshake
    var decoder: MeshFrameDecoder

    var isEstablished: Bool { state.isEstablished }
    /// Closed or closing: nothing more is sent, read or handled.
    var isClosed: Bool { state.isClosed }

    /// Encrypted links (from establishment on): seals what we send, opens what the peer sends. nil in clear.
    var sealer: RecordSealer?
    var opener: RecordDecoder?
    var isEncrypted: Bool { sealer != nil }
    /// Test hook: flip one byte of the next record we send.
    var corruptNextRecord = false
    /// Test hook: flip one byte of every record we send.
    var corruptEveryRecord = false

    /// Origins the peer asked for, in RESUME order (own origin first is typical); the pump walks this.
    var feeds: [Feed] = []
    /// Origins we have asked this peer to feed us at some point on this connection (its frames for one we
    /// no longer ask for are leftovers of a route change, not a forgery).
    var everRequested: [String] = []
    /// The replicas this peer was sent our own messages for at the last pump, to relay them (see
    /// ``MeshNode/relayTargets(via:)``).
    var relayingFor: [String] = []
    /// Something was delivered from this link since the last ACK.
    var ackDirty = false

    init(
        connection: TCPConnection, role: Handshake.Role, handshake: Handshake, maxFrameBytes: Int, deadline: UInt64,
        intern: InternTable? = nil
    ) {
        self.connection = connection
        self.role = role
        self.handshake = handshake
        self.decoder = MeshFrameDecoder(maxFrameBytes: maxFrameBytes, intern: intern)
        self.state = .handshaking(deadline: deadline)
    }

    /// Id of the node that dialed this connection.
    func dialerId(selfId: String) -> String? {
        role == .dialer ? selfId : peerId
    }

    /// Encodes and queues one control frame (leaves with this loop iteration's flush).
    func send(_ frame: MeshFrame) {
        guard !isClosed else { return }
        var bytes = [UInt8]()
        frame.encode(into: &bytes)
        write(bytes)
    }

    /// Queues bytes of the frame stream: as they are on a link in clear, sealed into records (one per 64 KiB) on
    /// an encrypted one. A batch of DATA frames is one call, so it is sealed as one run of records.
    func write(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        guard sealer != nil else { return connection.write(bytes) }
        var sealed = [UInt8]()
        do {
            try sealer!.seal(bytes, into: &sealed)
        } catch {
            // Only after 2^64 - 1 records: drop the link, the redial brings fresh keys.
            return connection.abort()
        }
        if (corruptNextRecord || corruptEveryRecord) && sealed.count > RecordProtocol.headerCount {
            corruptNextRecord = false
            sealed[RecordProtocol.headerCount] ^= 0x01
        }
        connection.write(sealed)
    }

    func feedIndex(_ origin: String) -> Int? { feeds.firstIndex { $0.origin == origin } }
}
