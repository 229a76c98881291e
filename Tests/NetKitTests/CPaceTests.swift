import Testing

@testable import NetKit

@Suite struct CPaceTests {
    private let password = Array("correct horse battery staple".utf8)
    private let context = Array("cluster-a".utf8)
    private let scalarA = (1...32).map { UInt8($0) }
    private let scalarB = (33...64).map { UInt8($0) }

    @Test func samePasswordAndContextAgree() throws {
        let a = CPace(password: password, context: context, scalar: CPace.randomScalar())
        let b = CPace(password: password, context: context, scalar: CPace.randomScalar())
        let secretA = try #require(a.sharedSecret(peerShare: b.share))
        let secretB = try #require(b.sharedSecret(peerShare: a.share))
        #expect(secretA == secretB)
        #expect(secretA.count == 32)
        #expect(a.share != b.share)

        let keyA = try #require(a.sessionKey(peerShare: b.share, localIsInitiator: true))
        let keyB = try #require(b.sessionKey(peerShare: a.share, localIsInitiator: false))
        #expect(keyA == keyB)
        // Both claiming the same role breaks the agreement (the transcript order differs).
        #expect(a.sessionKey(peerShare: b.share, localIsInitiator: true) != b.sessionKey(peerShare: a.share, localIsInitiator: true))
    }

    @Test func differentPasswordDisagrees() throws {
        let a = CPace(password: password, context: context, scalar: scalarA)
        let b = CPace(password: Array("correct horse battery stapler".utf8), context: context, scalar: scalarB)
        let secretA = try #require(a.sharedSecret(peerShare: b.share))
        let secretB = try #require(b.sharedSecret(peerShare: a.share))
        #expect(secretA != secretB)
    }

    @Test func differentContextDisagrees() throws {
        let a = CPace(password: password, context: context, scalar: scalarA)
        let b = CPace(password: password, context: Array("cluster-b".utf8), scalar: scalarB)
        let secretA = try #require(a.sharedSecret(peerShare: b.share))
        let secretB = try #require(b.sharedSecret(peerShare: a.share))
        #expect(secretA != secretB)
    }

    /// The length prefix keeps (password, context) pairs apart that plain concatenation would merge.
    @Test func passwordAndContextDoNotRunTogether() {
        let joined = CPace.generator(password: Array("ab".utf8), context: Array("c".utf8))
        let shifted = CPace.generator(password: Array("a".utf8), context: Array("bc".utf8))
        #expect(joined.bytes != shifted.bytes)
    }

    @Test func lowOrderPeerSharesAreRefused() {
        let a = CPace(password: password, context: context, scalar: scalarA)
        for point in LowOrderPoints.all {
            #expect(a.sharedSecret(peerShare: point) == nil, "share \(Hex.encode(point))")
            #expect(a.sessionKey(peerShare: point, localIsInitiator: true) == nil)
        }
    }

    @Test func wrongLengthPeerSharesAreRefused() {
        let a = CPace(password: password, context: context, scalar: scalarA)
        for count in [0, 1, 31, 33, 64] {
            #expect(a.sharedSecret(peerShare: [UInt8](repeating: 9, count: count)) == nil)
        }
    }

    /// Pinned outputs for fixed scalars, so a refactor cannot change the construction silently. They
    /// were cross-checked with an independent Python implementation (hashlib, big integers, the
    /// textbook Elligator 2 and ladder) that reproduces the RFC 9380 and RFC 7748 vectors.
    @Test func deterministicWithFixedScalars() throws {
        let a = CPace(password: password, context: context, scalar: scalarA)
        let b = CPace(password: password, context: context, scalar: scalarB)
        #expect(Hex.encode(CPace.generator(password: password, context: context).bytes)
            == "f266f88b383d4d4d54c0129fa6cd7e05c29cd78054cede1ad6da1a22d8557b07")
        #expect(Hex.encode(a.share) == "793e9d798fd2cfa937efb97303e575d01085e9879a803493bec6bfe806b0857e")
        #expect(Hex.encode(b.share) == "9c92cc72c51bb8fa2b758bda8674a46576abd1da53ebcf2bf57c4d08ab557853")
        let secret = try #require(a.sharedSecret(peerShare: b.share))
        #expect(Hex.encode(secret) == "6a6d30f1982e2b731bd811326e83809a58555915631379b07a0188dcd66bcb4b")
        let key = try #require(a.sessionKey(peerShare: b.share, localIsInitiator: true))
        #expect(Hex.encode(key) == "b4f3e4021edc7a586317e00e25ffa3869202306d5d83d262bf9492b4f6895851")
    }

    /// Setting bit 255 of a share leaves K unchanged (X25519 ignores it) but changes the transcript, so
    /// the session keys differ and key confirmation would catch the tampering.
    @Test func sessionKeyBindsTheSharesAsSent() throws {
        let a = CPace(password: password, context: context, scalar: scalarA)
        let b = CPace(password: password, context: context, scalar: scalarB)
        var tampered = b.share
        tampered[31] |= 0x80
        #expect(a.sharedSecret(peerShare: tampered) == a.sharedSecret(peerShare: b.share))
        let honest = try #require(b.sessionKey(peerShare: a.share, localIsInitiator: false))
        let fooled = try #require(a.sessionKey(peerShare: tampered, localIsInitiator: true))
        #expect(honest != fooled)
    }

    /// The generator is a point of large order for any password: never 0, never one of the small-order
    /// u-coordinates, and a clamped scalar (a multiple of the cofactor) does not send it to 0.
    @Test func generatorHasLargeOrder() throws {
        let lowOrder = Set(LowOrderPoints.canonical.map { Curve25519FieldElement(bytes: $0).bytes })
        var generator = SystemRandomNumberGenerator()
        for index in 0..<48 {
            let password = (0..<(index % 40)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let g = CPace.generator(password: password, context: context)
            #expect(!lowOrder.contains(g.bytes), "password \(Hex.encode(password))")
            let share = X25519.ladder(scalar: scalarA, u: g).bytes
            #expect(share != [UInt8](repeating: 0, count: 32), "password \(Hex.encode(password))")
        }
    }

    @Test func randomScalarsAreFreshAndSized() {
        let first = CPace.randomScalar()
        let second = CPace.randomScalar()
        #expect(first.count == 32)
        #expect(second.count == 32)
        #expect(first != second)
    }

    @Test func prependLengthIsLEB128() {
        #expect(CPace.prependLength([]) == [0])
        #expect(CPace.prependLength([7]) == [1, 7])
        #expect(Array(CPace.prependLength([UInt8](repeating: 0, count: 127)).prefix(1)) == [0x7f])
        #expect(Array(CPace.prependLength([UInt8](repeating: 0, count: 128)).prefix(2)) == [0x80, 0x01])
        #expect(Array(CPace.prependLength([UInt8](repeating: 0, count: 300)).prefix(2)) == [0xac, 0x02])
        #expect(CPace.prependLength([UInt8](repeating: 0, count: 300)).count == 302)
    }

    /// The scalar stays out of `description` and `dump`.
    @Test func descriptionHidesTheScalar() {
        let a = CPace(password: password, context: context, scalar: scalarA)
        var dumped = ""
        dump(a, to: &dumped)
        let scalarHex = Hex.encode(scalarA)
        #expect(!String(describing: a).contains(scalarHex))
        #expect(!dumped.contains("scalar"))
        #expect(String(describing: a).contains(Hex.encode(a.share)))
    }
}
