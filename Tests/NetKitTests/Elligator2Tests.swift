import Testing

@testable import NetKit

/// RFC 9380 appendix J.4 (curve25519_XMD:SHA-512_ELL2_RO_ and _NU_): each listed field element u is
/// sent by map_to_curve to the listed Q. The suites hash with SHA-512, which NetKit lacks, so the tests
/// start from the listed u; all values are big-endian, as the RFC prints them.
@Suite struct Elligator2Tests {
    private func check(u: String, qx: String) {
        let mapped = Elligator2.mapToCurve25519(Curve25519FieldElement(bytes: Hex.littleEndian(fromBigEndian: u)))
        #expect(Hex.encode(mapped) == Hex.encode(Hex.littleEndian(fromBigEndian: qx)), "u = \(u)")
    }

    // J.4.1, curve25519_XMD:SHA-512_ELL2_RO_: (u[0], Q0.x) and (u[1], Q1.x) of each message.
    @Test func rfc9380J41RandomOracle() {
        let vectors: [(u: String, qx: String)] = [
            ("005fe8a7b8fef0a16c105e6cadf5a6740b3365e18692a9c05bfbb4d97f645a6a", "36b4df0c864c64707cbf6cf36e9ee2c09a6cb93b28313c169be29561bb904f98"),
            ("1347edbec6a2b5d8c02e058819819bee177077c9d10a4ce165aab0fd0252261a", "3fa114783a505c0b2b2fbeef0102853c0b494e7757f2a089d0daae7ed9a0db2b"),
            ("49bed021c7a3748f09fa8cdfcac044089f7829d3531066ac9e74e0994e05bc7d", "16b3d86e056b7970fa00165f6f48d90b619ad618791661b7b5e1ec78be10eac1"),
            ("5c36525b663e63389d886105cee7ed712325d5a97e60e140aba7e2ce5ae851b6", "7ec29ddbf34539c40adfa98fcb39ec36368f47f30e8f888cc7e86f4d46e0c264"),
            ("6412b7485ba26d3d1b6c290a8e1435b2959f03721874939b21782df17323d160", "71de3dadfe268872326c35ac512164850860567aea0e7325e6b91a98f86533ad"),
            ("24c7b46c1c6d9a21d32f5707be1380ab82db1054fde82865d5c9e3d968f287b2", "5704069021f61e41779e2ba6b932268316d6d2a6f064f997a22fef16d1eaeaca"),
            ("5e123990f11bbb5586613ffabdb58d47f64bb5f2fa115f8ea8df0188e0c9e1b5", "7a94d45a198fb5daa381f45f2619ab279744efdd8bd8ed587fc5b65d6cea1df0"),
            ("5e8553eb00438a0bb1e7faa59dec6d8087f9c8011e5fb8ed9df31cb6c0d4ac19", "30506fb7a32136694abd61b6113770270debe593027a968a01f271e146e60c18"),
            ("20f481e85da7a3bf60ac0fb11ed1d0558fc6f941b3ac5469aa8b56ec883d6d7d", "02d606e2699b918ee36f2818f2bc5013e437e673c9f9b9cdc15fd0c5ee913970"),
            ("017d57fd257e9a78913999a23b52ca988157a81b09c5442501d07fed20869465", "38920e9b988d1ab7449c0fa9a6058192c0c797bb3d42ac345724341a1aa98745"),
        ]
        for vector in vectors { check(u: vector.u, qx: vector.qx) }
    }

    // J.4.2, curve25519_XMD:SHA-512_ELL2_NU_: (u[0], Q.x) of each message.
    @Test func rfc9380J42NonUniform() {
        let vectors: [(u: String, qx: String)] = [
            ("608d892b641f0328523802a6603427c26e55e6f27e71a91a478148d45b5093cd", "51125222da5e763d97f3c10fcc92ea6860b9ccbbd2eb1285728f566721c1e65b"),
            ("46f5b22494bfeaa7f232cc8d054be68561af50230234d7d1d63d1d9abeca8da5", "7d56d1e08cb0ccb92baf069c18c49bb5a0dcd927eff8dcf75ca921ef7f3e6eeb"),
            ("235fe40c443766ce7e18111c33862d66c3b33267efa50d50f9e8e5d252a40aaa", "3fbe66b9c9883d79e8407150e7c2a1c8680bee496c62fabe4619a72b3cabe90f"),
            ("001e92a544463bda9bd04ddbe3d6eed248f82de32f522669efc5ddce95f46f5b", "227e0bb89de700385d19ec40e857db6e6a3e634b1c32962f370d26f84ff19683"),
            ("1a68a1af9f663592291af987203393f707305c7bac9c8d63d6a729bdc553dc19", "3bcd651ee54d5f7b6013898aab251ee8ecc0688166fce6e9548d38472f6bd196"),
        ]
        for vector in vectors { check(u: vector.u, qx: vector.qx) }
    }

    /// u and −u map to the same point (the map depends on u² only).
    @Test func symmetryAndZero() {
        let u = Curve25519FieldElement(bytes: Hex.littleEndian(fromBigEndian: "608d892b641f0328523802a6603427c26e55e6f27e71a91a478148d45b5093cd"))
        #expect(Elligator2.mapToCurve25519(-u) == Elligator2.mapToCurve25519(u))
        // u = 0: x1 = −J and g(x1) = −J³ + J·J² − J = −J, not a square mod p, so the map takes
        // x2 = 2u²·x1 = 0, the point of order 2 (hash_to_field yields 0 with probability 1/p).
        #expect(Elligator2.mapToCurve25519(.zero) == [UInt8](repeating: 0, count: 32))
    }
}
