import NetKit

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

/// The link handshake as a pure state machine: feed it frames, perform the actions it returns.
///
/// ```
/// dialer                         acceptor
///   HELLO(cluster, id, epoch, nonceD) ─▶
///                              ◀─ HELLO(cluster, id, epoch, nonceA), AUTH(mac 'A')
///   AUTH(mac 'D') ─▶
///                                 verify; .authenticated → node runs the tie-break → accept()/reject()
///                              ◀─ ACCEPT | REJECT(reason)
///   ACCEPT is trusted only after the acceptor's AUTH verified
/// ```
/// Both sides prove knowledge of the secret with an HMAC over a transcript holding both nonces, so a
/// recorded AUTH is useless on another connection. The transcript includes the *sender's* role, so an
/// AUTH reflected back to its author (same nonces, other direction) does not verify. The secret
/// never crosses the wire.
public struct Handshake: Sendable {
    public enum Role: Sendable, Equatable {
        case dialer
        case acceptor

        var transcriptByte: UInt8 { self == .dialer ? UInt8(ascii: "D") : UInt8(ascii: "A") }
    }

    public enum Action: Sendable, Equatable {
        case send(MeshFrame)
        /// Acceptor only: the dialer proved itself. Decide (tie-break) and call ``accept()`` or ``reject(reason:)``.
        case authenticated(peerId: String, peerEpoch: UInt64)
        /// The link is up.
        case established(peerId: String, peerEpoch: UInt64)
        /// Give up: close the socket and log `reason` (any REJECT to send precedes this action).
        case fail(reason: String)
    }

    private enum State: Sendable, Equatable {
        case idle
        /// Dialer: HELLO sent, waiting for the acceptor's HELLO.
        case awaitingHello
        /// Both: our AUTH is out (or about to be), waiting for the peer's.
        case awaitingAuth
        /// Dialer: acceptor verified, waiting for ACCEPT/REJECT.
        case awaitingVerdict
        /// Acceptor: dialer verified, the node must decide.
        case awaitingDecision
        case established
        case failed
    }

    public static let transcriptLabel = "signalr-mesh-auth-v1"

    public let role: Role
    public let local: HandshakeIdentity
    public let localNonce: [UInt8]
    /// Dialer: the replica we meant to reach. Acceptor: nil.
    public let expectedPeer: String?
    /// Ids allowed to connect (the other replicas of peers.json).
    public let knownPeers: Set<String>

    public private(set) var peerHello: MeshHello?
    private var state: State = .idle

    /// - Parameters:
    ///   - nonce: 32 fresh random bytes (injected so tests are deterministic; use ``randomNonce()``).
    ///   - expectedPeer: for the dialer, the id it dialed; the acceptor learns the id from HELLO.
    public init(role: Role, local: HandshakeIdentity, nonce: [UInt8], expectedPeer: String? = nil, knownPeers: Set<String>) {
        precondition(nonce.count == MeshProtocol.nonceCount)
        self.role = role
        self.local = local
        self.localNonce = nonce
        self.expectedPeer = expectedPeer
        self.knownPeers = knownPeers
    }

    /// 32 bytes from the system CSPRNG (getrandom on Linux).
    public static func randomNonce() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        var nonce = [UInt8]()
        nonce.reserveCapacity(MeshProtocol.nonceCount)
        for _ in 0..<(MeshProtocol.nonceCount / 8) {
            let word = rng.next()
            for shift in stride(from: 0, to: 64, by: 8) { nonce.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return nonce
    }

    public var isEstablished: Bool { state == .established }
    public var isFinished: Bool { state == .established || state == .failed }
    public var peerId: String? { peerHello?.nodeId }
    public var peerEpoch: UInt64? { peerHello?.epoch }

    private var ownHello: MeshHello {
        MeshHello(cluster: local.cluster, nodeId: local.nodeId, epoch: local.epoch, nonce: localNonce)
    }

    /// Dialer: returns the opening HELLO. Acceptor: nothing (it speaks when the dialer's HELLO arrives).
    public mutating func start() -> [Action] {
        guard state == .idle else { return [] }
        switch role {
        case .dialer:
            state = .awaitingHello
            return [.send(.hello(ownHello))]
        case .acceptor:
            return []
        }
    }

    /// Feeds one frame received during the handshake.
    public mutating func receive(_ frame: MeshFrame) -> [Action] {
        switch (state, frame) {
        case (.failed, _), (.established, _):
            return []
        case (_, .reject(let reason)):
            state = .failed
            return [.fail(reason: "rejected by peer: \(LogText.untrusted(reason))")]
        case (.idle, .hello(let hello)) where role == .acceptor:
            if let problem = check(hello) { return failWithReject(problem.wire, detail: problem.detail) }
            peerHello = hello
            state = .awaitingAuth
            return [.send(.hello(ownHello)), .send(.auth(mac: proof(for: role)))]
        case (.awaitingHello, .hello(let hello)):
            if let problem = check(hello) { return failWithReject(problem.wire, detail: problem.detail) }
            peerHello = hello
            state = .awaitingAuth
            return [.send(.auth(mac: proof(for: role)))]
        case (.awaitingAuth, .auth(let mac)):
            let peerRole: Role = role == .dialer ? .acceptor : .dialer
            guard constantTimeEqual(mac, proof(for: peerRole)) else {
                return failWithReject("authentication failed", detail: "peer's AUTH does not verify (wrong secret?)")
            }
            guard let hello = peerHello else { return failWithReject("protocol error", detail: "AUTH before HELLO") }
            switch role {
            case .dialer:
                state = .awaitingVerdict
                return []
            case .acceptor:
                state = .awaitingDecision
                return [.authenticated(peerId: hello.nodeId, peerEpoch: hello.epoch)]
            }
        case (.awaitingVerdict, .accept):
            guard let hello = peerHello else { return failWithReject("protocol error", detail: "ACCEPT before HELLO") }
            state = .established
            return [.established(peerId: hello.nodeId, peerEpoch: hello.epoch)]
        default:
            // Includes ACCEPT before the acceptor's AUTH verified: never trust an unproven ACCEPT.
            return failWithReject("protocol error", detail: "unexpected \(frame.type) frame during handshake")
        }
    }

    /// Acceptor: keep the link (after ``Action/authenticated(peerId:peerEpoch:)``).
    public mutating func accept() -> [Action] {
        guard state == .awaitingDecision, let hello = peerHello else { return [] }
        state = .established
        return [.send(.accept), .established(peerId: hello.nodeId, peerEpoch: hello.epoch)]
    }

    /// Either side: refuse the link with `reason`.
    public mutating func reject(reason: String) -> [Action] {
        guard !isFinished else { return [] }
        return failWithReject(reason, detail: reason)
    }

    private mutating func failWithReject(_ wire: String, detail: String) -> [Action] {
        state = .failed
        return [.send(.reject(reason: wire)), .fail(reason: detail)]
    }

    /// Checks the peer's HELLO. `wire` goes back in REJECT (kept terse for unauthenticated peers), `detail` to our log.
    private func check(_ hello: MeshHello) -> (wire: String, detail: String)? {
        if hello.protocolVersion != MeshProtocol.version {
            return ("unsupported protocol version", "peer speaks mesh protocol \(hello.protocolVersion), we speak \(MeshProtocol.version)")
        }
        if hello.cluster != local.cluster {
            return ("cluster mismatch", "peer is in cluster \(LogText.untrusted(hello.cluster)), we are in \"\(local.cluster)\"")
        }
        if hello.nodeId == local.nodeId {
            return ("unknown node id", "peer claims our own id \(LogText.untrusted(hello.nodeId))")
        }
        if !knownPeers.contains(hello.nodeId) {
            return ("unknown node id", "peer id \(LogText.untrusted(hello.nodeId)) is not in peers.json")
        }
        if let expectedPeer, hello.nodeId != expectedPeer {
            return ("unexpected node id", "dialed \"\(expectedPeer)\" but \(LogText.untrusted(hello.nodeId)) answered")
        }
        if hello.nonce == localNonce {
            return ("protocol error", "peer echoed our nonce")
        }
        return nil
    }

    /// Our (or, for verification, the peer's) proof over this connection's transcript.
    private func proof(for sender: Role) -> [UInt8] {
        guard let peer = peerHello else { return [] }
        let dialer: MeshHello
        let acceptor: MeshHello
        switch role {
        case .dialer:
            dialer = ownHello
            acceptor = peer
        case .acceptor:
            dialer = peer
            acceptor = ownHello
        }
        return Handshake.proof(
            secret: local.secret, senderRole: sender, cluster: local.cluster,
            dialerId: dialer.nodeId, dialerEpoch: dialer.epoch, acceptorId: acceptor.nodeId, acceptorEpoch: acceptor.epoch,
            dialerNonce: dialer.nonce, acceptorNonce: acceptor.nonce)
    }

    /// The bytes both sides MAC: each field length-prefixed exactly as on the wire (strings u16, byte
    /// strings u32, integers fixed width), so no two different field lists serialise the same.
    public static func transcript(
        senderRole: Role, cluster: String, dialerId: String, dialerEpoch: UInt64, acceptorId: String,
        acceptorEpoch: UInt64, dialerNonce: [UInt8], acceptorNonce: [UInt8]
    ) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.appendString(transcriptLabel)
        bytes.append(senderRole.transcriptByte)
        bytes.appendString(cluster)
        bytes.appendString(dialerId)
        bytes.appendUInt64(dialerEpoch)
        bytes.appendString(acceptorId)
        bytes.appendUInt64(acceptorEpoch)
        bytes.appendLengthPrefixedBytes(dialerNonce)
        bytes.appendLengthPrefixedBytes(acceptorNonce)
        return bytes
    }

    /// HMAC-SHA256(secret, transcript).
    public static func proof(
        secret: [UInt8], senderRole: Role, cluster: String, dialerId: String, dialerEpoch: UInt64, acceptorId: String,
        acceptorEpoch: UInt64, dialerNonce: [UInt8], acceptorNonce: [UInt8]
    ) -> [UInt8] {
        HMACSHA256.authenticationCode(
            key: secret,
            message: transcript(
                senderRole: senderRole, cluster: cluster, dialerId: dialerId, dialerEpoch: dialerEpoch,
                acceptorId: acceptorId, acceptorEpoch: acceptorEpoch, dialerNonce: dialerNonce,
                acceptorNonce: acceptorNonce))
    }
}
