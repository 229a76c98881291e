/// A balanced PAKE in the style of CPace (draft-irtf-cfrg-cpace) over X25519: two parties that share
/// a low-entropy secret (a passphrase) agree on a strong key, and nobody who watches or even takes
/// part in the exchange can test passphrases offline.
///
/// ```
/// G = Elligator2(hash_to_field(expand_message_xmd_sha256(len‖password ‖ len‖context, DST)))
/// A: a random, Ya = X25519(a, G)  ──Ya──▶
///                                 ◀──Yb──  B: b random, Yb = X25519(b, G)
/// K = X25519(a, Yb) = X25519(b, Ya)        (abort if K = 0)
/// ```
///
/// ## Why there is no offline dictionary oracle
///
/// The HMAC proof it replaces, MAC(secret, nonces), lets whoever records one exchange try every
/// passphrase at leisure: compute the MAC for each guess and compare. Here the passphrase never
/// enters a value that can be checked on its own; it only chooses the *generator* G, a hash of it
/// mapped to the curve, whose discrete logarithm with respect to any other generator nobody knows.
///
/// - A share Y = y·G, with y fresh and secret, is a random-looking element of the prime-order subgroup
///   whatever G is: telling which generator it came from would take a discrete logarithm, so a share
///   alone says nothing about the passphrase.
/// - A passive eavesdropper sees Ya = a·G and Yb = b·G. To test a guess it would need K = a·b·G for
///   the guessed G: one Diffie-Hellman instance per guess. Under the computational Diffie-Hellman
///   (CDH) assumption it learns nothing, so recorded traffic is worthless.
/// - An active attacker without the passphrase must send a share Y' = y·G' built on the generator
///   G' of one guess. The honest side computes K = a·Y'. If the guess was right the attacker can
///   compute K = y·Ya and the key confirmation passes; if it was wrong, K = y·r·Ya with
///   r = log_G(G') unknown, so computing K for any *other* candidate password is again a CDH
///   instance. One connection therefore tests at most one guess, online, where rate limiting and
///   logs can see it — the best any password protocol can do.
///
/// The caller must confirm the key (e.g. exchange MACs keyed by ``sessionKey(peerShare:localIsInitiator:)``)
/// before trusting the peer, and must draw a fresh scalar for every connection.
///
/// ## Construction details
///
/// - The message hashed to the field is `prependLength(password) ‖ prependLength(context)`, with
///   CPace's `prepend_len` (the length as an unsigned LEB128 varint), so no two (password, context)
///   pairs collide. `context` should bind the generator to the deployment (cluster name, protocol
///   version), so one passphrase used in two clusters gives unrelated generators.
/// - hash_to_field uses expand_message_xmd with SHA-256 and L = 48 bytes (RFC 9380 §5), under the DST
///   ``domainSeparationTag``; the map is Elligator 2 (RFC 9380 §6.7.1).
/// - X25519 clamps scalars to multiples of 8, which clears the cofactor: every share and K lie in the
///   prime-order subgroup, and a small-order share from the peer yields K = 0, which is refused.
/// - It follows the draft's design (generator from the password, X25519, low-order check, transcript
///   hashed into the key) but not its exact encoding (the draft hashes with SHA-512 and adds session
///   and party identifiers), so it does not reproduce the draft's test vectors.
/// - The password's length (not its content) affects timing, through the number of SHA-256 blocks.
public struct CPace: Sendable {
    /// Domain separation tag of the generator's hash (RFC 9380 §3.1).
    public static let domainSeparationTag = Array("signalr-mesh-cpace-x25519-v1".utf8)
    /// Label of ``sessionKey(peerShare:localIsInitiator:)``'s hash.
    public static let sessionKeyLabel = Array("signalr-mesh-cpace-isk-v1".utf8)
    /// Length of shares, scalars and secrets.
    public static let byteCount = X25519.byteCount

    /// The 32 bytes to send to the peer: X25519(scalar, generator).
    public let share: [UInt8]
    private let scalar: [UInt8]

    /// Prepares one side of one exchange.
    ///
    /// - Parameters:
    ///   - password: the shared secret (any length).
    ///   - context: public data both sides agree on, bound into the generator (any length).
    ///   - scalar: 32 random bytes, fresh for every exchange (injected so tests are deterministic;
    ///     use ``randomScalar()``). Reusing a scalar across connections is not safe.
    /// - Precondition: `scalar.count == 32` (it comes from ``randomScalar()``, never from the network).
    public init(password: [UInt8], context: [UInt8], scalar: [UInt8]) {
        precondition(scalar.count == Self.byteCount, "a CPace scalar is 32 bytes")
        self.scalar = scalar
        let generator = Self.generator(password: password, context: context)
        self.share = X25519.ladder(scalar: scalar, u: generator).bytes
    }

    /// 32 bytes from the system's secure generator (`getrandom` on Linux).
    public static func randomScalar() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(byteCount)
        for _ in 0..<(byteCount / 8) {
            let word = generator.next()
            for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(8 * i))) }
        }
        return bytes
    }

    /// The raw Diffie-Hellman result K = X25519(scalar, peerShare).
    ///
    /// Returns nil when `peerShare` is not 32 bytes, or when K is all zero, which happens exactly when
    /// the peer sent a low-order point (0, 1, p − 1, the order-8 points or their non-canonical
    /// spellings): such a share would force a key known to an attacker. Prefer
    /// ``sessionKey(peerShare:localIsInitiator:)``, which also binds both shares.
    public func sharedSecret(peerShare: [UInt8]) -> [UInt8]? {
        guard peerShare.count == Self.byteCount else { return nil }
        let k = X25519.ladder(scalar: scalar, u: Curve25519FieldElement(bytes: peerShare)).bytes
        var any: UInt8 = 0
        for byte in k { any |= byte }
        return any == 0 ? nil : k
    }

    /// The session key, SHA-256(prependLength(label) ‖ prependLength(K) ‖ prependLength(Y_initiator) ‖
    /// prependLength(Y_responder)), as CPace's ISK binds the transcript.
    ///
    /// Binding both shares in a fixed order means a share altered on the wire (for instance by adding
    /// a low-order component, which leaves K unchanged) gives the two sides different keys, so the key
    /// confirmation fails instead of passing on a transcript neither side sent.
    /// - Parameter localIsInitiator: whether this side sent its share first (e.g. the dialer); the
    ///   two sides must pass opposite values.
    /// - Returns: nil when ``sharedSecret(peerShare:)`` is nil.
    public func sessionKey(peerShare: [UInt8], localIsInitiator: Bool) -> [UInt8]? {
        guard let k = sharedSecret(peerShare: peerShare) else { return nil }
        let (first, second) = localIsInitiator ? (share, peerShare) : (peerShare, share)
        var input = Self.prependLength(Self.sessionKeyLabel)
        input += Self.prependLength(k)
        input += Self.prependLength(first)
        input += Self.prependLength(second)
        return SHA256.hash(input)
    }

    /// The generator's u-coordinate: Elligator2(hash_to_field(prependLength(password) ‖ prependLength(context))).
    static func generator(password: [UInt8], context: [UInt8]) -> Curve25519FieldElement {
        let message = prependLength(password) + prependLength(context)
        // The DST is a non-empty constant and count is 1, so hash_to_field cannot fail.
        guard let field = try? Curve25519FieldElement.hashToField(message: message, dst: domainSeparationTag, count: 1) else {
            preconditionFailure("hash_to_field rejected CPace's fixed parameters")
        }
        return Elligator2.mapToCurve25519UCoordinate(field[0])
    }

    /// CPace's `prepend_len`: the length of `bytes` as an unsigned LEB128 varint, then `bytes`.
    static func prependLength(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 10)
        var length = UInt64(bytes.count)
        repeat {
            let low = UInt8(length & 0x7F)
            length >>= 7
            out.append(length == 0 ? low : low | 0x80)
        } while length != 0
        out.append(contentsOf: bytes)
        return out
    }
}

extension CPace: CustomStringConvertible, CustomReflectable {
    /// Shows the share only: the scalar must never reach a log.
    public var description: String {
        let digits = Array("0123456789abcdef")
        var hex = ""
        for byte in share {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xf)])
        }
        return "CPace(share: \(hex))"
    }

    /// Hides the scalar from `dump` and debuggers' mirrors too.
    public var customMirror: Mirror { Mirror(self, children: ["share": share]) }
}
