import NetKit
import Testing

@testable import Mesh

@Suite struct HandshakeTests {
    static let secret = Array("a-long-shared-secret-value".utf8)
    let dialerIdentity = HandshakeIdentity(cluster: "demo", nodeId: "a", epoch: 100, secret: secret)
    let acceptorIdentity = HandshakeIdentity(cluster: "demo", nodeId: "b", epoch: 200, secret: secret)
    let peers: Set<String> = ["a", "b", "c"]
    let nonceD = [UInt8](repeating: 0x11, count: 32)
    let nonceA = [UInt8](repeating: 0x22, count: 32)
    let scalarD = [UInt8](repeating: 0x33, count: 32)
    let scalarA = [UInt8](repeating: 0x44, count: 32)

    func makeDialer(_ identity: HandshakeIdentity? = nil, expect: String = "b", encrypt: Bool = false) -> Handshake {
        Handshake(
            role: .dialer, local: identity ?? dialerIdentity, nonce: nonceD, scalar: scalarD, expectedPeer: expect,
            knownPeers: peers, encryptWith: encrypt ? [expect] : [])
    }

    func makeAcceptor(_ identity: HandshakeIdentity? = nil, encrypt: Bool = false) -> Handshake {
        Handshake(
            role: .acceptor, local: identity ?? acceptorIdentity, nonce: nonceA, scalar: scalarA, knownPeers: peers,
            encryptWith: encrypt ? ["a"] : [])
    }

    static func sent(_ actions: [Handshake.Action]) -> [MeshFrame] {
        actions.compactMap { if case .send(let f) = $0 { return f }; return nil }
    }

    static func failure(_ actions: [Handshake.Action]) -> String? {
        for action in actions { if case .fail(let reason) = action { return reason } }
        return nil
    }

    /// Frames go through encode/decode so the wire form is exercised too.
    static func wire(_ frame: MeshFrame) throws -> MeshFrame {
        try MeshFrame.decode(typeAndBody: Array(frame.encoded()[4...]))
    }

    /// Runs frames between the two machines until neither has anything to send, returning each side's non-send
    /// actions. `tamper` may rewrite any frame on its way (`toAcceptor` tells the direction).
    static func run(
        dialer: inout Handshake, acceptor: inout Handshake, decide: (String, UInt64) -> Bool = { _, _ in true },
        tamper: (_ frame: MeshFrame, _ toAcceptor: Bool) -> MeshFrame = { frame, _ in frame }
    ) throws -> (dialer: [Handshake.Action], acceptor: [Handshake.Action]) {
        var toAcceptor = sent(dialer.start())
        var toDialer = [MeshFrame]()
        var dialerEvents = [Handshake.Action]()
        var acceptorEvents = [Handshake.Action]()
        while !toAcceptor.isEmpty || !toDialer.isEmpty {
            for frame in toAcceptor {
                var actions = acceptor.receive(try wire(tamper(frame, true)))
                for case .authenticated(let id, let epoch) in actions {
                    actions += decide(id, epoch) ? acceptor.accept() : acceptor.reject(reason: "duplicate link")
                }
                toDialer += sent(actions)
                acceptorEvents += actions.filter { if case .send = $0 { return false }; return true }
            }
            toAcceptor = []
            for frame in toDialer {
                let actions = dialer.receive(try wire(tamper(frame, false)))
                toAcceptor += sent(actions)
                dialerEvents += actions.filter { if case .send = $0 { return false }; return true }
            }
            toDialer = []
        }
        return (dialerEvents, acceptorEvents)
    }

    // MARK: - The good path

    @Test func goodSecretEstablishesBothSidesWithMatchingKeys() throws {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor)
        #expect(events.acceptor == [.authenticated(peerId: "a", peerEpoch: 100), .established(peerId: "a", peerEpoch: 100)])
        #expect(events.dialer == [.established(peerId: "b", peerEpoch: 200)])
        #expect(dialer.isEstablished && acceptor.isEstablished)
        let keys = try #require(dialer.keys)
        #expect(acceptor.keys == keys)
        #expect(keys.dialerToAcceptor != keys.acceptorToDialer)
        #expect(keys.sending(as: .dialer) == keys.receiving(as: .acceptor))
        #expect(!dialer.isEncrypted && !acceptor.isEncrypted)
    }

    /// Fresh nonces and scalars give fresh keys: no two links share a key.
    @Test func everyConnectionHasItsOwnKeys() throws {
        var dialer1 = makeDialer()
        var acceptor1 = makeAcceptor()
        _ = try Self.run(dialer: &dialer1, acceptor: &acceptor1)
        var dialer2 = Handshake(
            role: .dialer, local: dialerIdentity, nonce: Handshake.randomNonce(), expectedPeer: "b", knownPeers: peers)
        var acceptor2 = Handshake(role: .acceptor, local: acceptorIdentity, nonce: Handshake.randomNonce(), knownPeers: peers)
        _ = try Self.run(dialer: &dialer2, acceptor: &acceptor2)
        let first = try #require(dialer1.keys)
        let second = try #require(dialer2.keys)
        #expect(acceptor2.keys == second)
        #expect(first.dialerToAcceptor != second.dialerToAcceptor && first.acceptorToDialer != second.acceptorToDialer)
    }

    /// The acceptor's first flight carries no proof (HELLO and a PAKE share only); the dialer confirms only after the
    /// acceptor's share; the acceptor confirms only after verifying the dialer.
    @Test func frameSequenceIsAsDocumented() {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        let hello = Self.sent(dialer.start())
        #expect(hello.map(\.type) == [.hello])
        let reply = Self.sent(acceptor.receive(hello[0]))
        #expect(reply.map(\.type) == [.hello, .share])
        #expect(dialer.receive(reply[0]).isEmpty)
        let dialerFlight = Self.sent(dialer.receive(reply[1]))
        #expect(dialerFlight.map(\.type) == [.share, .confirm])
        #expect(acceptor.receive(dialerFlight[0]).isEmpty)
        #expect(acceptor.receive(dialerFlight[1]) == [.authenticated(peerId: "a", peerEpoch: 100)])
        let verdict = acceptor.accept()
        #expect(Self.sent(verdict).map(\.type) == [.confirm, .accept])
        #expect(dialer.receive(Self.sent(verdict)[0]).isEmpty)
        #expect(dialer.receive(.accept) == [.established(peerId: "b", peerEpoch: 200)])
        for frame in reply + dialerFlight + Self.sent(verdict) {
            #expect(!frame.encoded().contains(subsequence: Self.secret.prefix(8)))
        }
    }

    /// Issue 9, point 3. A recorded exchange (every frame of a successful handshake) is useless for guessing the
    /// secret offline: trying a dictionary that *contains the right secret* against it verifies nothing, because a
    /// confirmation depends on the PAKE scalars that never left the two replicas. (Protocol 1's AUTH was
    /// HMAC(secret, public transcript): recomputing it for each guess found the secret at once; its own test
    /// `frameSequenceIsAsDocumented` did exactly that with `Handshake.proof`.)
    @Test func recordedExchangeGivesNoOfflineOracle() throws {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        var recorded: [(frame: MeshFrame, toAcceptor: Bool)] = []
        _ = try Self.run(dialer: &dialer, acceptor: &acceptor, tamper: { frame, toAcceptor in
            recorded.append((frame, toAcceptor))
            return frame
        })
        let fromDialer = recorded.filter(\.toAcceptor).map(\.frame)
        let fromAcceptor = recorded.filter { !$0.toAcceptor }.map(\.frame)
        #expect(fromDialer.map(\.type) == [.hello, .share, .confirm])
        #expect(fromAcceptor.map(\.type) == [.hello, .share, .confirm, .accept])

        let dictionary = ["password", "letmein", "a-long-shared-secret-valuf", String(decoding: Self.secret, as: UTF8.self)]
        for guess in dictionary {
            // Replay the dialer's recorded frames to an acceptor holding the guess, with the recorded nonce. Its
            // scalar is not the recorded one (nobody has that), so the recorded CONFIRM never verifies.
            let guessed = HandshakeIdentity(cluster: "demo", nodeId: "b", epoch: 200, secret: Array(guess.utf8))
            var victim = Handshake(role: .acceptor, local: guessed, nonce: nonceA, knownPeers: peers)
            var events = [Handshake.Action]()
            for frame in fromDialer { events += victim.receive(frame) }
            #expect(!events.contains { $0 == .authenticated(peerId: "a", peerEpoch: 100) }, "guess \(guess) verified")
            // Same with the acceptor's recorded frames against a dialer holding the guess.
            let guessedD = HandshakeIdentity(cluster: "demo", nodeId: "a", epoch: 100, secret: Array(guess.utf8))
            var dialerGuess = Handshake(role: .dialer, local: guessedD, nonce: nonceD, expectedPeer: "b", knownPeers: peers)
            var dialerEvents = dialerGuess.start()
            for frame in fromAcceptor { dialerEvents += dialerGuess.receive(frame) }
            #expect(!dialerGuess.isEstablished, "guess \(guess) verified")
            #expect(Self.failure(dialerEvents) == "peer's key confirmation does not verify (wrong secret?)")
        }
    }

    // MARK: - Wrong secret, forgeries

    /// The dialer has another secret: the acceptor refuses its confirmation (tersely on the wire, with the reason
    /// in its log) and never sends a confirmation of its own.
    @Test func wrongSecretFailsBothDirections() throws {
        for wrongSide in ["dialer", "acceptor"] {
            let other = Array("another-secret-entirely".utf8)
            var dialer = makeDialer(wrongSide == "dialer" ? HandshakeIdentity(cluster: "demo", nodeId: "a", epoch: 100, secret: other) : nil)
            var acceptor = makeAcceptor(wrongSide == "acceptor" ? HandshakeIdentity(cluster: "demo", nodeId: "b", epoch: 200, secret: other) : nil)
            var acceptorSent = [MeshFrame]()
            let events = try Self.run(dialer: &dialer, acceptor: &acceptor, tamper: { frame, toAcceptor in
                if !toAcceptor { acceptorSent.append(frame) }
                return frame
            })
            #expect(Self.failure(events.acceptor) == "peer's key confirmation does not verify (wrong secret?)")
            #expect(Self.failure(events.dialer) == #"rejected by peer: "authentication failed""#)
            #expect(acceptorSent.map(\.type) == [.hello, .share, .reject])
            #expect(acceptorSent.last == .reject(reason: "authentication failed"))
            #expect(!dialer.isEstablished && !acceptor.isEstablished && dialer.keys == nil && acceptor.keys == nil)
        }
    }

    /// A forged acceptor confirmation (the other direction of a wrong secret): the dialer refuses it.
    @Test func forgedAcceptorConfirmationIsRefused() throws {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        var dialerSent = [MeshFrame]()
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor, tamper: { frame, toAcceptor in
            if toAcceptor { dialerSent.append(frame) }
            if !toAcceptor, case .confirm(var mac) = frame {
                mac[0] ^= 1
                return .confirm(mac: mac)
            }
            return frame
        })
        #expect(Self.failure(events.dialer) == "peer's key confirmation does not verify (wrong secret?)")
        #expect(dialerSent.last == .reject(reason: "authentication failed"))
        #expect(!dialer.isEstablished)
    }

    /// An attacker without the secret plays the acceptor and bounces the dialer's own share and confirmation back.
    @Test func reflectedShareAndConfirmationAreRefused() {
        var dialer = makeDialer()
        _ = dialer.start()
        _ = dialer.receive(.hello(MeshHello(cluster: "demo", nodeId: "b", epoch: 200, nonce: nonceA)))
        // The attacker needs some share to make the dialer speak: any valid one will do.
        let flight = Self.sent(dialer.receive(.share(makeAcceptor().peerlessShare())))
        guard case .confirm(let tagD) = flight[1] else {
            Issue.record("expected CONFIRM")
            return
        }
        let verdict = dialer.receive(.confirm(mac: tagD))
        #expect(Self.failure(verdict) == "peer's key confirmation does not verify (wrong secret?)")
        #expect(Self.sent(verdict) == [.reject(reason: "authentication failed")])

        // The dialer's share reflected as the acceptor's: its confirmation still names the sender's role.
        var dialer2 = makeDialer()
        let hello = Self.sent(dialer2.start())
        _ = dialer2.receive(.hello(MeshHello(cluster: "demo", nodeId: "b", epoch: 200, nonce: nonceA)))
        let ownShare = Handshake.shareFor(secret: Self.secret, dialer: hello[0], acceptorNonce: nonceA, scalar: scalarD)
        let flight2 = Self.sent(dialer2.receive(.share(ownShare)))
        #expect(flight2.map(\.type) == [.share, .confirm])
        #expect(Self.failure(dialer2.receive(flight2[1])) == "peer's key confirmation does not verify (wrong secret?)")

        // Our own HELLO bounced back: same id (and nonce).
        var dialer3 = makeDialer(expect: "a")
        let ownHello = Self.sent(dialer3.start())
        #expect(Self.failure(dialer3.receive(ownHello[0])) == #"peer claims our own id "a""#)
    }

    @Test(arguments: ["dialer share", "acceptor share", "dialer confirm", "dialer flags", "acceptor flags", "dialer epoch"])
    func tamperingInFlightFails(_ what: String) throws {
        var dialer = makeDialer(encrypt: true)
        var acceptor = makeAcceptor(encrypt: true)
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor, tamper: { frame, toAcceptor in
            switch (frame, toAcceptor, what) {
            case (.share(var y), true, "dialer share"), (.share(var y), false, "acceptor share"):
                y[5] ^= 0x40
                return .share(y)
            case (.confirm(var mac), true, "dialer confirm"):
                mac[31] ^= 0x80
                return .confirm(mac: mac)
            case (.hello(var hello), true, "dialer flags"), (.hello(var hello), false, "acceptor flags"):
                hello.flags = 0  // strip the encryption request
                return .hello(hello)
            case (.hello(var hello), true, "dialer epoch"):
                hello.epoch += 1
                return .hello(hello)
            default:
                return frame
            }
        })
        #expect(!dialer.isEstablished && !acceptor.isEstablished, "\(what)")
        let reasons = [Self.failure(events.dialer), Self.failure(events.acceptor)]
        #expect(
            reasons.contains("peer's key confirmation does not verify (wrong secret?)")
                || reasons.contains("peer's PAKE share is invalid (a low-order point)"), "\(what): \(reasons)")
    }

    /// Without tampering, one side asking is enough; neither asking leaves the link in clear.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func encryptedWhenEitherSideAsks(_ asks: (dialer: Bool, acceptor: Bool)) throws {
        var dialer = makeDialer(encrypt: asks.dialer)
        var acceptor = makeAcceptor(encrypt: asks.acceptor)
        _ = try Self.run(dialer: &dialer, acceptor: &acceptor)
        #expect(dialer.isEstablished && acceptor.isEstablished)
        #expect(dialer.isEncrypted == (asks.dialer || asks.acceptor))
        #expect(acceptor.isEncrypted == dialer.isEncrypted)
    }

    @Test func lowOrderShareIsRefused() {
        let zero = [UInt8](repeating: 0, count: 32)
        var one = zero
        one[0] = 1
        for bad in [zero, one] {
            var acceptor = makeAcceptor()
            _ = acceptor.receive(.hello(MeshHello(cluster: "demo", nodeId: "a", epoch: 100, nonce: nonceD)))
            let actions = acceptor.receive(.share(bad))
            #expect(Self.failure(actions) == "peer's PAKE share is invalid (a low-order point)")
            #expect(Self.sent(actions) == [.reject(reason: "authentication failed")])

            var dialer = makeDialer()
            _ = dialer.start()
            _ = dialer.receive(.hello(MeshHello(cluster: "demo", nodeId: "b", epoch: 200, nonce: nonceA)))
            let dialerActions = dialer.receive(.share(bad))
            #expect(Self.failure(dialerActions) == "peer's PAKE share is invalid (a low-order point)")
            #expect(Self.sent(dialerActions) == [.reject(reason: "authentication failed")])
        }
    }

    @Test func acceptBeforeConfirmationIsNotTrusted() {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        let hello = Self.sent(dialer.start())
        let reply = Self.sent(acceptor.receive(hello[0]))
        _ = dialer.receive(reply[0])
        // Before the acceptor's share.
        var early = dialer
        #expect(Self.failure(early.receive(.accept)) == "unexpected accept frame during handshake")
        // After the dialer confirmed, before the acceptor's confirmation.
        _ = dialer.receive(reply[1])
        let actions = dialer.receive(.accept)
        #expect(Self.failure(actions) == "unexpected accept frame during handshake")
        #expect(Self.sent(actions) == [.reject(reason: "protocol error")])
        #expect(!dialer.isEstablished && dialer.keys == nil)
    }

    // MARK: - HELLO checks, tie-break

    @Test func clusterMismatchIsRejectedWithReason() throws {
        let other = HandshakeIdentity(cluster: "prod", nodeId: "a", epoch: 100, secret: Self.secret)
        var dialer = makeDialer(other)
        var acceptor = makeAcceptor()
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor)
        #expect(Self.failure(events.acceptor) == "peer is in cluster \"prod\", we are in \"demo\"")
        #expect(Self.failure(events.dialer) == #"rejected by peer: "cluster mismatch""#)
    }

    @Test func unknownNodeAndVersionMismatch() throws {
        var acceptor = makeAcceptor()
        let stranger = MeshHello(cluster: "demo", nodeId: "zz", epoch: 1, nonce: nonceD)
        let actions = acceptor.receive(.hello(stranger))
        #expect(Self.sent(actions) == [.reject(reason: "unknown node id")])
        #expect(Self.failure(actions) == "peer id \"zz\" is not in peers.json")

        var acceptor2 = makeAcceptor()
        let future = MeshHello(protocolVersion: 3, cluster: "demo", nodeId: "a", epoch: 1, nonce: nonceD)
        #expect(Self.sent(acceptor2.receive(.hello(future))) == [.reject(reason: "unsupported protocol version")])

        // A protocol-1 HELLO (no flags byte) parses far enough to say so.
        var v1 = [UInt8]()
        v1.appendUInt16(1)
        v1.appendString("demo")
        v1.appendString("a")
        v1.appendUInt64(1)
        v1 += nonceD
        let old = try MeshFrame.decode(typeAndBody: [MeshFrameType.hello.rawValue] + v1)
        var acceptor3 = makeAcceptor()
        let oldActions = acceptor3.receive(old)
        #expect(Self.sent(oldActions) == [.reject(reason: "unsupported protocol version")])
        #expect(Self.failure(oldActions) == "peer speaks mesh protocol 1, we speak 2")

        // Dialer reached someone other than whom it dialed.
        var dialer = makeDialer(expect: "c")
        _ = dialer.start()
        let wrongPeer = MeshHello(cluster: "demo", nodeId: "b", epoch: 1, nonce: nonceA)
        #expect(Self.failure(dialer.receive(.hello(wrongPeer))) == "dialed \"c\" but \"b\" answered")
    }

    /// A refusal after the acceptor verified the dialer carries the acceptor's confirmation first, so the dialer knows
    /// it was refused by the real peer (not an impostor that took its confirmation and hung up).
    @Test func tieBreakRejectionReachesDialer() throws {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        var acceptorSent = [MeshFrame]()
        let events = try Self.run(dialer: &dialer, acceptor: &acceptor, decide: { _, _ in false }, tamper: { frame, toAcceptor in
            if !toAcceptor { acceptorSent.append(frame) }
            return frame
        })
        #expect(Self.failure(events.dialer) == #"rejected by peer: "duplicate link""#)
        #expect(Self.failure(events.acceptor) == "duplicate link")
        #expect(acceptorSent.map(\.type) == [.hello, .share, .confirm, .reject])
        #expect(dialer.peerConfirmed && !dialer.confirmedToUnprovenPeer && !dialer.authenticationFailed)
        #expect(!acceptor.authenticationFailed && acceptor.peerConfirmed)
    }

    // MARK: - What a failed handshake says about guessing (for the auth throttle)

    @Test func goodHandshakeCountsNoGuess() throws {
        var dialer = makeDialer()
        var acceptor = makeAcceptor()
        _ = try Self.run(dialer: &dialer, acceptor: &acceptor)
        for side in [dialer, acceptor] {
            #expect(!side.authenticationFailed && side.peerConfirmed && side.confirmationSent && !side.confirmedToUnprovenPeer)
        }
    }

    /// Wrong secret: the acceptor saw a failed proof (one guess against it); the dialer handed its confirmation to a
    /// side that never proved itself (one guess against it, if that side was an impostor).
    @Test func wrongSecretCountsAGuessOnBothSides() throws {
        var dialer = makeDialer(HandshakeIdentity(cluster: "demo", nodeId: "a", epoch: 100, secret: Array("another-secret-entirely".utf8)))
        var acceptor = makeAcceptor()
        _ = try Self.run(dialer: &dialer, acceptor: &acceptor)
        #expect(acceptor.authenticationFailed && !acceptor.confirmationSent && !acceptor.confirmedToUnprovenPeer)
        #expect(!dialer.authenticationFailed && dialer.confirmedToUnprovenPeer)
    }

    /// An impostor acceptor that takes the dialer's confirmation and closes: nothing failed to verify, but the
    /// dialer gave one guess away.
    @Test func impostorThatHangsUpAfterOurConfirmationCountsAGuess() {
        var dialer = makeDialer()
        _ = dialer.start()
        _ = dialer.receive(.hello(MeshHello(cluster: "demo", nodeId: "b", epoch: 200, nonce: nonceA)))
        #expect(!dialer.confirmedToUnprovenPeer)
        let flight = Self.sent(dialer.receive(.share(makeAcceptor().peerlessShare())))
        #expect(flight.map(\.type) == [.share, .confirm])
        #expect(dialer.confirmedToUnprovenPeer && !dialer.authenticationFailed)
    }

    @Test func lowOrderShareCountsAsFailedAuthentication() {
        var acceptor = makeAcceptor()
        _ = acceptor.receive(.hello(MeshHello(cluster: "demo", nodeId: "a", epoch: 100, nonce: nonceD)))
        _ = acceptor.receive(.share([UInt8](repeating: 0, count: 32)))
        #expect(acceptor.authenticationFailed)
        // A HELLO that fails its checks is no guess (no curve work was done).
        var acceptor2 = makeAcceptor()
        _ = acceptor2.receive(.hello(MeshHello(cluster: "prod", nodeId: "a", epoch: 100, nonce: nonceD)))
        #expect(!acceptor2.authenticationFailed)
    }

    @Test func dataDuringHandshakeIsProtocolError() {
        var acceptor = makeAcceptor()
        let actions = acceptor.receive(.data(MeshData(origin: "a", epoch: 1, seq: 1, payload: [])))
        #expect(Self.sent(actions) == [.reject(reason: "protocol error")])
    }

    @Test func noncesAreRandom() {
        let a = Handshake.randomNonce()
        let b = Handshake.randomNonce()
        #expect(a.count == 32 && b.count == 32 && a != b)
    }
}

extension Handshake {
    /// An acceptor's share for some HELLO (a valid point an attacker could send).
    fileprivate func peerlessShare() -> [UInt8] {
        var copy = self
        let reply = copy.receive(.hello(MeshHello(cluster: local.cluster, nodeId: "a", epoch: 1, nonce: Handshake.randomNonce())))
        for case .send(.share(let share)) in reply { return share }
        return []
    }

    /// The share the dialer itself sends for this exchange (what a reflecting attacker bounces back).
    fileprivate static func shareFor(secret: [UInt8], dialer hello: MeshFrame, acceptorNonce: [UInt8], scalar: [UInt8]) -> [UInt8] {
        guard case .hello(let dialerHello) = hello else { return [] }
        let acceptorHello = MeshHello(cluster: "demo", nodeId: "b", epoch: 200, nonce: acceptorNonce)
        let context = Handshake.context(dialer: dialerHello, acceptor: acceptorHello)
        return CPace(password: secret, context: context, scalar: scalar).share
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence: ArraySlice<UInt8>) -> Bool {
        guard subsequence.count <= count else { return false }
        for start in 0...(count - subsequence.count) where self[start..<(start + subsequence.count)] == subsequence {
            return true
        }
        return false
    }
}
