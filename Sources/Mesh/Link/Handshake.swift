import NetKit

/// The link handshake (mesh protocol 2) as a pure state machine: feed it frames, perform the actions it returns.
///
/// ```
/// dialer                                   acceptor
///   HELLO(v, cluster, id, epoch, nonceD, flags) ─▶
///                                            checks it
///                            ◀─ HELLO(v, cluster, id, epoch, nonceA, flags), SHARE(Ya)
///   checks it
///   SHARE(Yd), CONFIRM(tag 'D') ─▶
///                                            verifies tag 'D'; .authenticated → node runs the tie-break
///                            ◀─ CONFIRM(tag 'A'), ACCEPT     (or REJECT(reason))
///   verifies tag 'A'; ACCEPT is trusted only after that
/// ```
///
/// **No offline oracle.** The secret is the password of a CPace-style PAKE (``CPace``): each side sends a share
/// Y = y·G, where the generator G is derived from the secret and a context binding everything both sides sent in
/// the clear (label, protocol version, cluster, both ids, epochs, nonces and flag bytes). Both compute the same key
/// K only if they used the same secret and context. A recorded exchange gives an attacker nothing to test guesses
/// against (checking one would take a Diffie-Hellman computation it can't do); an active attacker gets one guess
/// per connection, and it fails visibly (``authenticationFailed``, ``confirmedToUnprovenPeer``): the node then limits
/// how often a source may try (``AuthThrottle``). The confirmation tags are HMACs under a key derived from K and the
/// transcript (both shares included), over the *sender's* role, so a tag reflected back to its author does not
/// verify; the acceptor sends its tag only after verifying the dialer's, and the dialer trusts ACCEPT only after
/// verifying the acceptor's. A flipped flag bit (say, the encryption request stripped on the way) changes the
/// context, so the tags don't verify and the link fails.
///
/// The link is encrypted when either HELLO carries ``MeshHello/encryptFlag``; ``keys`` then holds the record keys.
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
        /// The link is up (see ``isEncrypted`` and ``keys``).
        case established(peerId: String, peerEpoch: UInt64)
        /// Give up: close the socket and log `reason` (any REJECT to send precedes this action).
        case fail(reason: String)
    }

    private enum State: Sendable, Equatable {
        case idle
        /// Dialer: HELLO sent, waiting for the acceptor's HELLO.
        case awaitingHello
        /// Both: the peer's HELLO checked, waiting for its SHARE.
        case awaitingShare
        /// Both: key derived, waiting for the peer's CONFIRM (the dialer has sent its own).
        case awaitingConfirm
        /// Dialer: acceptor verified, waiting for ACCEPT/REJECT.
        case awaitingVerdict
        /// Acceptor: dialer verified, the node must decide.
        case awaitingDecision
        case established
        case failed
    }

    /// Label at the start of the PAKE context and of every key derivation.
    public static let label = "signalr-mesh-v2"
    /// REJECT reason for anything that smells of a wrong secret (kept terse: the peer is not trusted yet).
    public static let authenticationFailed = "authentication failed"

    public let role: Role
    public let local: HandshakeIdentity
    public let localNonce: [UInt8]
    /// Dialer: the replica we meant to reach. Acceptor: nil.
    public let expectedPeer: String?
    /// Ids allowed to connect (the other replicas of peers.json).
    public let knownPeers: Set<String>
    /// Peers we ask to encrypt the link with (our side of the "either side asks" rule).
    public let encryptWith: Set<String>

    public private(set) var peerHello: MeshHello?
    /// The id the peer's HELLO claimed, even when the HELLO was refused (an unknown id): for the log only.
    public private(set) var claimedPeerId: String?
    /// The peer failed to prove it knows the secret: its key confirmation did not verify, or its PAKE share was
    /// invalid. Each such handshake was one guess at the secret; the node throttles the source (``AuthThrottle``).
    public private(set) var authenticationFailed = false
    /// We sent our key confirmation.
    public private(set) var confirmationSent = false
    /// The peer's key confirmation verified.
    public private(set) var peerConfirmed = false
    /// We sent our key confirmation to a peer that has not proved itself (yet): if the handshake ends here, whoever
    /// answered may have used it to test one guess at the secret. Only the dialer can be in this position (the
    /// acceptor confirms only after verifying the dialer, even when it then refuses the link).
    public var confirmedToUnprovenPeer: Bool { confirmationSent && !peerConfirmed }
    /// Record keys, once established (derived for every link; used when ``isEncrypted``).
    public var keys: LinkKeys? { state == .established ? derivedKeys : nil }
    private var derivedKeys: LinkKeys?
    private var state: State = .idle
    private let scalar: [UInt8]
    private var ownHelloSent: MeshHello?
    private var pake: CPace?
    private var peerShare: [UInt8]?
    private var confirmKey: [UInt8] = []
    private var transcriptHash: [UInt8] = []

    /// - Parameters:
    ///   - nonce: 32 fresh random bytes (injected so tests are deterministic; use ``randomNonce()``).
    ///   - scalar: the PAKE scalar, 32 fresh random bytes per connection (use ``CPace/randomScalar()``).
    ///   - expectedPeer: for the dialer, the id it dialed; the acceptor learns the id from HELLO.
    ///   - encryptWith: ids of the peers this side asks to encrypt with.
    public init(
        role: Role, local: HandshakeIdentity, nonce: [UInt8], scalar: [UInt8] = CPace.randomScalar(),
        expectedPeer: String? = nil, knownPeers: Set<String>, encryptWith: Set<String> = []
    ) {
        precondition(nonce.count == MeshProtocol.nonceCount)
        precondition(scalar.count == CPace.byteCount)
        self.role = role
        self.local = local
        self.localNonce = nonce
        self.scalar = scalar
        self.expectedPeer = expectedPeer
        self.knownPeers = knownPeers
        self.encryptWith = encryptWith
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
    /// Whether either side asked for encryption (meaningful once established).
    public var isEncrypted: Bool {
        guard let own = ownHelloSent, let peer = peerHello else { return false }
        return own.wantsEncryption || peer.wantsEncryption
    }

    private func makeHello(for peer: String) -> MeshHello {
        MeshHello(
            cluster: local.cluster, nodeId: local.nodeId, epoch: local.epoch, nonce: localNonce,
            flags: encryptWith.contains(peer) ? MeshHello.encryptFlag : 0)
    }

    /// Dialer: returns the opening HELLO. Acceptor: nothing (it speaks when the dialer's HELLO arrives).
    public mutating func start() -> [Action] {
        guard state == .idle else { return [] }
        switch role {
        case .dialer:
            state = .awaitingHello
            let hello = makeHello(for: expectedPeer ?? "")
            ownHelloSent = hello
            return [.send(.hello(hello))]
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
            claimedPeerId = hello.nodeId
            if let problem = check(hello) { return failWithReject(problem.wire, detail: problem.detail) }
            peerHello = hello
            let own = makeHello(for: hello.nodeId)
            ownHelloSent = own
            let pake = CPace(password: local.secret, context: context(), scalar: scalar)
            self.pake = pake
            state = .awaitingShare
            return [.send(.hello(own)), .send(.share(pake.share))]
        case (.awaitingHello, .hello(let hello)):
            claimedPeerId = hello.nodeId
            if let problem = check(hello) { return failWithReject(problem.wire, detail: problem.detail) }
            peerHello = hello
            pake = CPace(password: local.secret, context: context(), scalar: scalar)
            state = .awaitingShare
            return []
        case (.awaitingShare, .share(let share)):
            guard let pake, let key = pake.sessionKey(peerShare: share, localIsInitiator: role == .dialer) else {
                authenticationFailed = true
                return failWithReject(Self.authenticationFailed, detail: "peer's PAKE share is invalid (a low-order point)")
            }
            peerShare = share
            deriveKeys(sessionKey: key)
            state = .awaitingConfirm
            switch role {
            case .dialer:
                confirmationSent = true
                return [.send(.share(pake.share)), .send(.confirm(mac: tag(for: .dialer)))]
            case .acceptor:
                return []
            }
        case (.awaitingConfirm, .confirm(let mac)):
            let peerRole: Role = role == .dialer ? .acceptor : .dialer
            guard constantTimeEqual(mac, tag(for: peerRole)) else {
                authenticationFailed = true
                return failWithReject(
                    Self.authenticationFailed, detail: "peer's key confirmation does not verify (wrong secret?)")
            }
            guard let hello = peerHello else { return failWithReject("protocol error", detail: "CONFIRM before HELLO") }
            peerConfirmed = true
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
            // Includes ACCEPT before the acceptor's CONFIRM verified: never trust an unproven ACCEPT.
            return failWithReject("protocol error", detail: "unexpected \(frame.type) frame during handshake")
        }
    }

    /// Acceptor: keep the link (after ``Action/authenticated(peerId:peerEpoch:)``): our confirmation, then ACCEPT.
    public mutating func accept() -> [Action] {
        guard state == .awaitingDecision, let hello = peerHello else { return [] }
        state = .established
        confirmationSent = true
        return [.send(.confirm(mac: tag(for: .acceptor))), .send(.accept), .established(peerId: hello.nodeId, peerEpoch: hello.epoch)]
    }

    /// Either side: refuse the link with `reason`. An acceptor that has verified the dialer (a tie-break refusal)
    /// sends its own confirmation first, so the dialer can tell a real refusal from an impostor that took its
    /// confirmation and hung up (which ``confirmedToUnprovenPeer`` counts as a guess).
    public mutating func reject(reason: String) -> [Action] {
        guard !isFinished else { return [] }
        if role == .acceptor && state == .awaitingDecision {
            confirmationSent = true
            return [.send(.confirm(mac: tag(for: .acceptor)))] + failWithReject(reason, detail: reason)
        }
        return failWithReject(reason, detail: reason)
    }

    private mutating func failWithReject(_ wire: String, detail: String) -> [Action] {
        state = .failed
        derivedKeys = nil
        return [.send(.reject(reason: wire)), .fail(reason: detail)]
    }

    /// Checks the peer's HELLO. `wire` goes back in REJECT (kept terse for unauthenticated peers), `detail` to our
    /// log (with the peer's strings quoted and capped: they are untrusted).
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

    // MARK: - Transcript and keys

    /// The two HELLOs as dialer's and acceptor's.
    private var hellos: (dialer: MeshHello, acceptor: MeshHello)? {
        guard let own = ownHelloSent, let peer = peerHello else { return nil }
        return role == .dialer ? (own, peer) : (peer, own)
    }

    /// The PAKE context: everything both sides sent in the clear.
    private func context() -> [UInt8] {
        guard let (dialer, acceptor) = hellos else { return [] }
        return Self.context(dialer: dialer, acceptor: acceptor)
    }

    /// The PAKE context for these two HELLOs: label, then each HELLO's fields length-prefixed exactly as on the wire
    /// (strings u16, byte strings u32, integers fixed width), so no two different field lists serialise the same.
    public static func context(dialer: MeshHello, acceptor: MeshHello) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.appendString(label)
        for hello in [dialer, acceptor] {
            bytes.appendUInt16(hello.protocolVersion)
            bytes.appendString(hello.cluster)
            bytes.appendString(hello.nodeId)
            bytes.appendUInt64(hello.epoch)
            bytes.appendLengthPrefixedBytes(hello.nonce)
            bytes.append(hello.flags)
        }
        return bytes
    }

    /// From the PAKE's session key: the confirmation key and the record keys, all bound to the transcript hash
    /// (context and both shares) and salted with both nonces.
    private mutating func deriveKeys(sessionKey: [UInt8]) {
        guard let (dialer, acceptor) = hellos, let pake, let peerShare else { return }
        let (dialerShare, acceptorShare) = role == .dialer ? (pake.share, peerShare) : (peerShare, pake.share)
        var transcript = Self.context(dialer: dialer, acceptor: acceptor)
        transcript.appendLengthPrefixedBytes(dialerShare)
        transcript.appendLengthPrefixedBytes(acceptorShare)
        transcriptHash = SHA256.hash(transcript)
        let prk = HKDFSHA256.extract(salt: dialer.nonce + acceptor.nonce, ikm: sessionKey)
        func expand(_ purpose: String) -> [UInt8] {
            HKDFSHA256.expand(prk: prk, info: Array("\(Self.label) \(purpose)".utf8) + transcriptHash, count: 32)
        }
        confirmKey = expand("confirm")
        derivedKeys = LinkKeys(dialerToAcceptor: expand("dialer->acceptor"), acceptorToDialer: expand("acceptor->dialer"))
    }

    /// The key confirmation `sender` sends: HMAC(confirm key, sender's role ‖ transcript hash).
    private func tag(for sender: Role) -> [UInt8] {
        HMACSHA256.authenticationCode(key: confirmKey, message: [sender.transcriptByte] + transcriptHash)
    }
}
