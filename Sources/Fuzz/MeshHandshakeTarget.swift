@testable import Mesh

/// `meshhandshake`: the link handshake state machine, both roles at once. A real dialer and a real acceptor talk
/// through two queues; the fuzz input is a script that delivers, drops, corrupts or injects frames and makes the
/// node's decisions (accept, reject).
///
/// Script: one op byte after another (`op % 8`):
/// 0 / 1 deliver the next queued frame to the acceptor / dialer; 2 / 3 inject a frame read from the input
/// (`[u8 length][type][body]`) into the acceptor / dialer; 4 the acceptor's node accepts; 5 a node rejects (bit 3:
/// the dialer, else the acceptor); 6 drop the next frame queued for one side (bit 3: the dialer's queue);
/// 7 corrupt the next frame queued for the acceptor (`[u8 position][u8 xor]`), delivered if it still decodes.
///
/// Checks: a finished machine does nothing more; `established` comes at most once, only with the peer that holds the
/// secret (the fuzzer can't forge the PAKE's key confirmation, so a forged peer must never get through); every frame a machine sends
/// encodes and decodes unchanged.
enum MeshHandshakeTarget {
    static let secret = Array("fuzz-secret-0123456789".utf8)
    static let acceptorIdentity = HandshakeIdentity(cluster: "demo", nodeId: "a", epoch: 1, secret: secret)
    static let dialerIdentity = HandshakeIdentity(cluster: "demo", nodeId: "d", epoch: 2, secret: secret)
    /// Fixed PAKE scalars: a run must depend on the input only.
    static let dialerScalar = [UInt8](repeating: 0x5D, count: 32)
    static let acceptorScalar = [UInt8](repeating: 0x5A, count: 32)

    /// One side: its machine, the frames queued for it, and what it has reported so far.
    struct Side {
        var machine: Handshake
        var inbox: [MeshFrame] = []
        /// The peer it may end up linked with: the other side's identity.
        let honestPeer: HandshakeIdentity
        var established = false
        var authenticated = false
        var failed = false

        init(_ machine: Handshake, honestPeer: HandshakeIdentity) {
            self.machine = machine
            self.honestPeer = honestPeer
        }
    }

    static func run(_ input: FuzzInput) {
        var dialer = Side(
            Handshake(
                role: .dialer, local: dialerIdentity, nonce: Array(repeating: 0xD1, count: 32), scalar: dialerScalar, expectedPeer: "a",
                knownPeers: ["a", "x"]), honestPeer: acceptorIdentity)
        var acceptor = Side(
            Handshake(
                role: .acceptor, local: acceptorIdentity, nonce: Array(repeating: 0xA1, count: 32), scalar: acceptorScalar,
                knownPeers: ["d", "x"]),
            honestPeer: dialerIdentity)

        let opening = dialer.machine.start()
        perform(opening, by: &dialer, to: &acceptor, wasFinished: false)

        var bytes = input.payload[...]
        while let op = bytes.popFirst() {
            switch op % 8 {
            case 0: deliverNext(to: &acceptor, from: &dialer)
            case 1: deliverNext(to: &dialer, from: &acceptor)
            case 2:
                if let frame = injected(&bytes) { deliver(frame, to: &acceptor, from: &dialer) }
            case 3:
                if let frame = injected(&bytes) { deliver(frame, to: &dialer, from: &acceptor) }
            case 4:
                let finished = acceptor.machine.isFinished
                perform(acceptor.machine.accept(), by: &acceptor, to: &dialer, wasFinished: finished)
            case 5:
                if op & 8 != 0 {
                    let finished = dialer.machine.isFinished
                    perform(dialer.machine.reject(reason: "tie-break"), by: &dialer, to: &acceptor, wasFinished: finished)
                } else {
                    let finished = acceptor.machine.isFinished
                    perform(acceptor.machine.reject(reason: "tie-break"), by: &acceptor, to: &dialer, wasFinished: finished)
                }
            case 6:
                if op & 8 != 0 { _ = dialer.inbox.popLast() } else { _ = acceptor.inbox.popLast() }
            default:
                guard let position = bytes.popFirst(), let mask = bytes.popFirst(), !acceptor.inbox.isEmpty else { continue }
                var encoded = acceptor.inbox.removeFirst().encoded()
                encoded[Int(position) % encoded.count] ^= mask | 1
                var decoder = MeshFrameDecoder()
                decoder.append(encoded)
                if let frame = try? decoder.next() { deliver(frame, to: &acceptor, from: &dialer) }
            }
        }
        for side in [dialer, acceptor] {
            check(side.established == side.machine.isEstablished, "established reported \(side.established), state says otherwise")
            if side.failed { check(!side.machine.isEstablished, "a failed handshake is established") }
        }
    }

    /// `[u8 length][type + body]` from the script, decoded; nil when it doesn't decode.
    static func injected(_ bytes: inout ArraySlice<UInt8>) -> MeshFrame? {
        guard let length = bytes.popFirst() else { return nil }
        let body = Array(bytes.prefix(Int(length)))
        bytes = bytes.dropFirst(Int(length))
        return try? MeshFrame.decode(typeAndBody: body)
    }

    static func deliverNext(to side: inout Side, from other: inout Side) {
        guard !side.inbox.isEmpty else { return }
        deliver(side.inbox.removeFirst(), to: &side, from: &other)
    }

    static func deliver(_ frame: MeshFrame, to side: inout Side, from other: inout Side) {
        let finished = side.machine.isFinished
        let actions = side.machine.receive(frame)
        perform(actions, by: &side, to: &other, wasFinished: finished)
    }

    static func perform(_ actions: [Handshake.Action], by side: inout Side, to other: inout Side, wasFinished: Bool) {
        check(!wasFinished || actions.isEmpty, "a finished handshake returned \(actions)")
        for action in actions {
            switch action {
            case .send(let frame):
                let encoded = frame.encoded()
                var decoder = MeshFrameDecoder()
                decoder.append(encoded)
                check((try? decoder.next()) == frame, "sent frame \(frame) does not decode unchanged")
                other.inbox.append(frame)
            case .authenticated(let peerId, let peerEpoch):
                check(side.machine.role == .acceptor, "the dialer reported authenticated")
                check(!side.authenticated, "authenticated twice")
                check(
                    peerId == side.honestPeer.nodeId && peerEpoch == side.honestPeer.epoch,
                    "authenticated \(peerId)@\(peerEpoch), who can't know the secret")
                side.authenticated = true
            case .established(let peerId, let peerEpoch):
                check(!side.established, "established twice")
                check(
                    peerId == side.honestPeer.nodeId && peerEpoch == side.honestPeer.epoch,
                    "established with \(peerId)@\(peerEpoch), who can't know the secret")
                check(side.machine.isEstablished, "established reported, state says otherwise")
                check(side.machine.role == .dialer || side.authenticated, "acceptor established before authenticating")
                side.established = true
            case .fail:
                check(side.machine.isFinished && !side.machine.isEstablished, "fail reported, state says otherwise")
                side.failed = true
            }
        }
    }
}
