import Testing

@testable import NetKit

private func ascii(_ string: String) -> [UInt8] { Array(string.utf8) }

/// Deterministic filler bytes.
private func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7 &+ seed) }
}

// MARK: - RFC 8439 texts

private let sunscreen = ascii(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")

private let ietfContribution = ascii(
    "Any submission to the IETF intended by the Contributor for publication as all or part of an IETF Internet-Draft "
        + "or RFC and any statement made within the context of an IETF activity is considered an \"IETF Contribution\". "
        + "Such statements include oral statements in IETF sessions, as well as written and electronic communications "
        + "made at any time or place, which are addressed to")

private let jabberwocky = ascii(
    "'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\nAll mimsy were the borogoves,\n"
        + "And the mome raths outgrabe.")

private let keyCounting = [UInt8](0...31)
private let key80 = [UInt8](0x80...0x9f)
private let keyJabber = hex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0")
private let keyLastOne = [UInt8](repeating: 0, count: 31) + [1]

// MARK: - ChaCha20 (RFC 8439 §2.1–2.4, A.1, A.2)

@Suite struct ChaCha20Tests {
    /// §2.1.1, through the four-lane quarter round the cipher uses (every lane must agree).
    @Test func quarterRound() {
        var a = SIMD4<UInt32>(repeating: 0x1111_1111)
        var b = SIMD4<UInt32>(repeating: 0x0102_0304)
        var c = SIMD4<UInt32>(repeating: 0x9b8d_6f43)
        var d = SIMD4<UInt32>(repeating: 0x0123_4567)
        ChaCha20.quarterRound(&a, &b, &c, &d)
        #expect(a == SIMD4(repeating: 0xea2a_92f4))
        #expect(b == SIMD4(repeating: 0xcb1c_f8ce))
        #expect(c == SIMD4(repeating: 0x4581_472e))
        #expect(d == SIMD4(repeating: 0x5881_c4bb))
    }

    /// §2.2.1: QUARTERROUND(2, 7, 8, 13) on a sample state; lanes carry different values to catch lane mix-ups.
    @Test func quarterRoundOnState() {
        let state: [UInt32] = [
            0x8795_31e0, 0xc5ec_f37d, 0x5164_61b1, 0xc9a6_2f8a, 0x44c2_0ef3, 0x3390_af7f, 0xd9fc_690b, 0x2a5f_714c,
            0x5337_2767, 0xb00a_5631, 0x974c_541a, 0x359e_9963, 0x5c97_1061, 0x3d63_1689, 0x2098_d9d6, 0x91db_d320,
        ]
        var a = SIMD4(state[2], 0, state[2], 1)
        var b = SIMD4(state[7], 0, state[7], 2)
        var c = SIMD4(state[8], 0, state[8], 3)
        var d = SIMD4(state[13], 0, state[13], 4)
        ChaCha20.quarterRound(&a, &b, &c, &d)
        #expect([a[0], b[0], c[0], d[0]] == [0xbdb8_86dc, 0xcfac_afd2, 0xe46b_ea80, 0xccc0_7c79])
        #expect([a[2], b[2], c[2], d[2]] == [0xbdb8_86dc, 0xcfac_afd2, 0xe46b_ea80, 0xccc0_7c79])
    }

    /// §2.3.2.
    @Test func blockFunction() {
        let block = ChaCha20(key: keyCounting).block(counter: 1, nonce: hex("000000090000004a00000000"))
        #expect(hex(block) == """
            10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4ed2826446079faa0914c2d705d98b02a2\
            b5129cd1de164eb9cbd083e8a2503c4e
            """)
    }

    /// §2.4.2: key stream and ciphertext of the sunscreen text (two blocks).
    @Test func encryption() {
        let cipher = ChaCha20(key: keyCounting)
        let nonce = hex("000000000000004a00000000")
        var stream = [UInt8](repeating: 0, count: sunscreen.count)
        cipher.xor(counter: 1, nonce: nonce, &stream)
        #expect(stream == hex("""
            224f51f3401bd9e12fde276fb8631ded8c131f823d2c06e27e4fcaec9ef3cf788a3b0aa372600a92b57974cded2b9334
            794cba40c63e34cdea212c4cf07d41b769a6749f3f630f4122cafe28ec4dc47e26d4346d70b98c73f3e9c53ac40c5945
            398b6eda1a832c89c167eacd901d7e2bf363
            """))
        var text = sunscreen
        cipher.xor(counter: 1, nonce: nonce, &text)
        #expect(text == hex("""
            6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b357
            1639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736
            5af90bbf74a35be6b40b8eedf2785e42874d
            """))
        cipher.xor(counter: 1, nonce: nonce, &text)
        #expect(text == sunscreen)
    }

    /// Appendix A.1, test vectors #1–#5.
    @Test(arguments: [
        (
            [UInt8](repeating: 0, count: 32), UInt32(0), "000000000000000000000000",
            "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
        ),
        (
            [UInt8](repeating: 0, count: 32), UInt32(1), "000000000000000000000000",
            "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f"
        ),
        (
            keyLastOne, UInt32(1), "000000000000000000000000",
            "3aeb5224ecf849929b9d828db1ced4dd832025e8018b8160b82284f3c949aa5a8eca00bbb4a73bdad192b5c42f73f2fd4e273644c8b36125a64addeb006c13a0"
        ),
        (
            [0, 0xff] + [UInt8](repeating: 0, count: 30), UInt32(2), "000000000000000000000000",
            "72d54dfbf12ec44b362692df94137f328fea8da73990265ec1bbbea1ae9af0ca13b25aa26cb4a648cb9b9d1be65b2c0924a66c54d545ec1b7374f4872e99f096"
        ),
        (
            [UInt8](repeating: 0, count: 32), UInt32(0), "000000000000000000000002",
            "c2c64d378cd536374ae204b9ef933fcd1a8b2288b3dfa49672ab765b54ee27c78a970e0e955c14f3a88e741b97c286f75f8fc299e8148362fa198a39531bed6d"
        ),
    ])
    func blockVectors(key: [UInt8], counter: UInt32, nonce: String, expected: String) {
        #expect(hex(ChaCha20(key: key).block(counter: counter, nonce: hex(nonce))) == expected)
    }

    /// Appendix A.2 #1: 64 zero bytes.
    @Test func encryptionVector1() {
        var text = [UInt8](repeating: 0, count: 64)
        ChaCha20(key: [UInt8](repeating: 0, count: 32)).xor(counter: 0, nonce: [UInt8](repeating: 0, count: 12), &text)
        #expect(hex(text) == """
            76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a37\
            6a43b8f41518a11cc387b669b2ee6586
            """)
    }

    /// Appendix A.2 #2: 375 bytes, so one four-block pass plus a tail.
    @Test func encryptionVector2() {
        var text = ietfContribution
        ChaCha20(key: keyLastOne).xor(counter: 1, nonce: hex("000000000000000000000002"), &text)
        #expect(text == hex("""
            a3fbf07df3fa2fde4f376ca23e82737041605d9f4f4f57bd8cff2c1d4b7955ec2a97948bd3722915c8f3d337f7d37005
            0e9e96d647b7c39f56e031ca5eb6250d4042e02785ececfa4b4bb5e8ead0440e20b6e8db09d881a7c6132f420e527950
            42bdfa7773d8a9051447b3291ce1411c680465552aa6c405b7764d5e87bea85ad00f8449ed8f72d0d662ab052691ca66
            424bc86d2df80ea41f43abf937d3259dc4b2d0dfb48a6c9139ddd7f76966e928e635553ba76c5c879d7b35d49eb2e62b
            0871cdac638939e25e8a1e0ef9d5280fa8ca328b351c3c765989cbcf3daa8b6ccc3aaf9f3979c92b3720fc88dc95ed84
            a1be059c6499b9fda236e7e818b04b0bc39c1e876b193bfe5569753f88128cc08aaa9b63d1a16f80ef2554d7189c411f
            5869ca52c5b83fa36ff216b9c1d30062bebcfd2dc5bce0911934fda79a86f6e698ced759c3ff9b6477338f3da4f9cd85
            14ea9982ccafb341b2384dd902f3d1ab7ac61dd29c6f21ba5b862f3730e37cfdc4fd806c22f221
            """))
    }

    /// Appendix A.2 #3: initial counter 42.
    @Test func encryptionVector3() {
        var text = jabberwocky
        ChaCha20(key: keyJabber).xor(counter: 42, nonce: hex("000000000000000000000002"), &text)
        #expect(text == hex("""
            62e6347f95ed87a45ffae7426f27a1df5fb69110044c0d73118effa95b01e5cf166d3df2d721caf9b21e5fb14c616871
            fd84c54f9d65b283196c7fe4f60553ebf39c6402c42234e32a356b3e764312a61a5532055716ead6962568f87d3f3f77
            04c6a8d1bcd1bf4d50d6154b6da731b187b58dfd728afa36757a797ac188d1
            """))
    }

    /// The bulk path (four blocks per pass, lanes 1–3 included) agrees with single blocks for every length up to
    /// three passes, whatever the starting counter.
    @Test func bulkMatchesSingleBlocks() {
        let cipher = ChaCha20(key: keyJabber)
        let nonce = hex("0a0b0c0d0e0f101112131415")
        for start: UInt32 in [0, 5] {
            var stream = [UInt8]()
            for i in 0..<13 { stream += cipher.block(counter: start + UInt32(i), nonce: nonce) }
            for count in 0...(12 * 64 + 1) {
                var text = pattern(count)
                cipher.xor(counter: start, nonce: nonce, &text)
                let expected = zip(pattern(count), stream).map { $0 ^ $1 }
                #expect(text == expected, "length \(count), counter \(start)")
            }
        }
    }
}

// MARK: - Poly1305 (RFC 8439 §2.5, A.3)

@Suite struct Poly1305Tests {
    /// §2.5.2.
    @Test func example() {
        let key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
        let tag = Poly1305.authenticationCode(key: key, message: ascii("Cryptographic Forum Research Group"))
        #expect(hex(tag) == "a8061dc1305136c6c22b8baf0c0127a9")
    }

    /// Appendix A.3 #1–#4.
    @Test(arguments: [
        ([UInt8](repeating: 0, count: 32), [UInt8](repeating: 0, count: 64), "00000000000000000000000000000000"),
        (hex("0000000000000000000000000000000036e5f6b5c5e06070f0efca96227a863e"), ietfContribution,
         "36e5f6b5c5e06070f0efca96227a863e"),
        (hex("36e5f6b5c5e06070f0efca96227a863e00000000000000000000000000000000"), ietfContribution,
         "f3477e7cd95417af89a6b8794c310cf0"),
        (keyJabber, jabberwocky, "4541669a7eaaee61e708dc7cbcc5eb62"),
    ])
    func vectors(key: [UInt8], message: [UInt8], tag: String) {
        #expect(hex(Poly1305.authenticationCode(key: key, message: message)) == tag)
    }

    /// Appendix A.3 #5–#11: the reduction edge cases (key = R ‖ S).
    @Test(arguments: [
        ("02" + String(repeating: "00", count: 15), String(repeating: "00", count: 16),
         String(repeating: "ff", count: 16), "03" + String(repeating: "00", count: 15)),
        ("02" + String(repeating: "00", count: 15), String(repeating: "ff", count: 16),
         "02" + String(repeating: "00", count: 15), "03" + String(repeating: "00", count: 15)),
        ("01" + String(repeating: "00", count: 15), String(repeating: "00", count: 16),
         String(repeating: "ff", count: 16) + "f0" + String(repeating: "ff", count: 15) + "11" + String(repeating: "00", count: 15),
         "05" + String(repeating: "00", count: 15)),
        ("01" + String(repeating: "00", count: 15), String(repeating: "00", count: 16),
         String(repeating: "ff", count: 16) + "fb" + String(repeating: "fe", count: 15) + String(repeating: "01", count: 16),
         String(repeating: "00", count: 16)),
        ("02" + String(repeating: "00", count: 15), String(repeating: "00", count: 16),
         "fd" + String(repeating: "ff", count: 15), "fa" + String(repeating: "ff", count: 15)),
        ("0100000000000000" + "0400000000000000", String(repeating: "00", count: 16),
         "e33594d7505e43b90000000000000000" + "3394d7505e4379cd0100000000000000" + String(repeating: "00", count: 16)
            + "01" + String(repeating: "00", count: 15),
         "1400000000000000" + "5500000000000000"),
        ("0100000000000000" + "0400000000000000", String(repeating: "00", count: 16),
         "e33594d7505e43b90000000000000000" + "3394d7505e4379cd0100000000000000" + String(repeating: "00", count: 16),
         "13" + String(repeating: "00", count: 15)),
    ])
    func edgeCases(r: String, s: String, data: String, tag: String) {
        #expect(hex(Poly1305.authenticationCode(key: hex(r + s), message: hex(data))) == tag)
    }

    /// Incremental use: every split of a 375-byte message (and three-way splits of a shorter one) gives the one-shot tag.
    @Test func incrementalSplits() {
        let key = hex("36e5f6b5c5e06070f0efca96227a863e00000000000000000000000000000000")
        let expected = Poly1305.authenticationCode(key: key, message: ietfContribution)
        for split in 0...ietfContribution.count {
            var mac = Poly1305(key: key)
            mac.update(Array(ietfContribution[..<split]))
            mac.update(Array(ietfContribution[split...]))
            #expect(mac.finalize() == expected, "split at \(split)")
        }
        let short = Array(ietfContribution.prefix(70))
        let shortTag = Poly1305.authenticationCode(key: key, message: short)
        for i in 0...short.count {
            for j in i...short.count {
                var mac = Poly1305(key: key)
                mac.update(Array(short[..<i]))
                mac.update(Array(short[i..<j]))
                mac.update([])
                mac.update(Array(short[j...]))
                #expect(mac.finalize() == shortTag, "splits at \(i), \(j)")
            }
        }
    }

    /// `finalize` does not consume the state: more bytes may follow and give the longer message's tag.
    @Test func finalizeIsRepeatable() {
        var mac = Poly1305(key: keyJabber)
        mac.update(Array(jabberwocky.prefix(50)))
        #expect(mac.finalize() == Poly1305.authenticationCode(key: keyJabber, message: Array(jabberwocky.prefix(50))))
        mac.update(Array(jabberwocky.dropFirst(50)))
        #expect(hex(mac.finalize()) == "4541669a7eaaee61e708dc7cbcc5eb62")
    }
}

// MARK: - AEAD (RFC 8439 §2.6, §2.8, A.4, A.5)

@Suite struct ChaCha20Poly1305Tests {
    /// §2.6.2 and A.4 #1–#3: the Poly1305 key is the first 32 bytes of block 0.
    @Test(arguments: [
        (key80, "000000000001020304050607", "8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646"),
        ([UInt8](repeating: 0, count: 32), "000000000000000000000000",
         "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"),
        (keyLastOne, "000000000000000000000002", "ecfa254f845f647473d3cb140da9e87606cb33066c447b87bc2666dde3fbb739"),
        (keyJabber, "000000000000000000000002", "965e3bc6f9ec7ed9560808f4d229f94b137ff275ca9b3fcbdd59deaad23310ae"),
    ])
    func poly1305KeyGeneration(key: [UInt8], nonce: String, expected: String) {
        #expect(hex(Array(ChaCha20(key: key).block(counter: 0, nonce: hex(nonce)).prefix(32))) == expected)
    }

    private static let aadRFC = hex("50515253c0c1c2c3c4c5c6c7")
    private static let nonceRFC = hex("070000004041424344454647")
    private static let sealedRFC = hex("""
        d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
        1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
        3ff4def08e4b7a9de576d26586cec64b6116
        1ae10b594f09e26a7e902ecbd0600691
        """)

    /// §2.8.2.
    @Test func sealVector() {
        let aead = ChaCha20Poly1305(key: key80)
        #expect(aead.seal(nonce: Self.nonceRFC, plaintext: sunscreen, aad: Self.aadRFC) == Self.sealedRFC)
        #expect(aead.open(nonce: Self.nonceRFC, sealed: Self.sealedRFC, aad: Self.aadRFC) == sunscreen)
    }

    private static let a5Sealed = hex("""
        64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0
        bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855
        9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e9
        9040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a
        0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130
        305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b
        eead9d67890cbb22392336fea1851f38
        """)
    private static let a5Plaintext = ascii(
        "Internet-Drafts are draft documents valid for a maximum of six months and may be updated, replaced, or "
            + "obsoleted by other documents at any time. It is inappropriate to use Internet-Drafts as reference material "
            + "or to cite them other than as /\u{201C}work in progress./\u{201D}")
    private static let a5AAD = hex("f33388860000000000004e91")

    /// Appendix A.5, array form.
    @Test func openVector() {
        let aead = ChaCha20Poly1305(key: keyJabber)
        let opened = aead.open(nonce: hex("000000000102030405060708"), sealed: Self.a5Sealed, aad: Self.a5AAD)
        #expect(opened == Self.a5Plaintext)
    }

    /// Appendix A.5 again, in place: its nonce happens to be the counter layout (4 zero bytes, then a 64-bit
    /// little-endian number), so it also pins down ``ChaCha20Poly1305/nonce(counter:)``.
    @Test func openVectorInPlace() {
        let aead = ChaCha20Poly1305(key: keyJabber)
        let counter: UInt64 = 0x0807_0605_0403_0201
        #expect(ChaCha20Poly1305.nonce(counter: counter) == hex("000000000102030405060708"))
        var text = Array(Self.a5Sealed.dropLast(16))
        let tag = Array(Self.a5Sealed.suffix(16))
        let ok = text.withUnsafeMutableBytes { text in
            Self.a5AAD.withUnsafeBytes { aad in
                tag.withUnsafeBytes { aead.open(counter: counter, aad: aad, text: text, tag: $0) }
            }
        }
        #expect(ok)
        #expect(text == Self.a5Plaintext)
    }

    @Test func counterNonceLayout() {
        #expect(ChaCha20Poly1305.nonce(counter: 0) == [UInt8](repeating: 0, count: 12))
        #expect(ChaCha20Poly1305.nonce(counter: 0x0102_0304_0506_0708) == [0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1])
        #expect(ChaCha20Poly1305.nonce(counter: .max) == [0, 0, 0, 0] + [UInt8](repeating: 0xff, count: 8))
    }

    /// A 64 KiB+ record (bulk path) against an independent implementation: the SHA-256 of the sealed output and its
    /// tag were computed with pyca/cryptography (OpenSSL) for the same key, counter, AAD and plaintext.
    @Test func largeRecordMatchesReference() {
        let key = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        let aead = ChaCha20Poly1305(key: key)
        let nonce = ChaCha20Poly1305.nonce(counter: 0x1_0000_0002)
        for (count, digest, tag) in [
            (65_600, "789b426e59014706a21ea0cef88f61b3520c58a8a9010a84c107b4dffe02456a", "985920bfecba48d734ad88922bdd39ea"),
            (1000, "7e1fd98f965df6f0c4cbb0573ecb9a7b87e8c0b977ca72d84dfa26d9effe93a1", "480a3868f0cd5acc85e40ca88e30ce20"),
        ] {
            let sealed = aead.seal(nonce: nonce, plaintext: pattern(count), aad: ascii("record header"))
            #expect(hex(SHA256.hash(sealed)) == digest, "length \(count)")
            #expect(hex(Array(sealed.suffix(16))) == tag, "length \(count)")
            let opened = aead.open(nonce: nonce, sealed: sealed, aad: ascii("record header")) == pattern(count)
            #expect(opened, "open, length \(count)")
        }
    }

    /// Every length 0…300, the four-block boundaries after that, and 64 KiB records: the ciphertext is the plaintext
    /// XOR blocks 1, 2, … and the tag is Poly1305 over the RFC's mac_data built here by hand; open inverts seal.
    @Test func roundTripAgainstConstruction() {
        let key = pattern(32, seed: 3)
        let aead = ChaCha20Poly1305(key: key)
        let cipher = ChaCha20(key: key)
        let lengths = Array(0...300) + [447, 448, 449, 511, 512, 513, 703, 704, 705, 65_535, 65_536, 65_537, 65_536 + 300]
        for (i, count) in lengths.enumerated() {
            let nonce = ChaCha20Poly1305.nonce(counter: UInt64(i) &* 0x1_0000_0001)
            let aad = pattern(i % 40, seed: 9)
            let plaintext = pattern(count, seed: i)
            let sealed = aead.seal(nonce: nonce, plaintext: plaintext, aad: aad)
            #expect(sealed.count == count + 16)

            var stream = [UInt8]()
            var block: UInt32 = 1
            while stream.count < count {
                stream += cipher.block(counter: block, nonce: nonce)
                block += 1
            }
            let ciphertext = zip(plaintext, stream).map { $0 ^ $1 }
            let ciphertextMatches = Array(sealed.prefix(count)) == ciphertext  // a Bool: no 64 KiB dumps on failure
            #expect(ciphertextMatches, "ciphertext, length \(count)")

            func pad16(_ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: (16 - n % 16) % 16) }
            func le64(_ n: Int) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: UInt64(n) >> (8 * UInt64($0))) } }
            let macData = aad + pad16(aad.count) + ciphertext + pad16(count) + le64(aad.count) + le64(count)
            let polyKey = Array(cipher.block(counter: 0, nonce: nonce).prefix(32))
            #expect(Array(sealed.suffix(16)) == Poly1305.authenticationCode(key: polyKey, message: macData), "tag, length \(count)")

            let opened = aead.open(nonce: nonce, sealed: sealed, aad: aad) == plaintext
            #expect(opened, "open, length \(count)")
        }
    }

    /// The in-place forms produce exactly the array forms' bytes, and open them back.
    @Test func inPlaceMatchesArrays() {
        let aead = ChaCha20Poly1305(key: pattern(32, seed: 11))
        for count in [0, 1, 15, 16, 17, 63, 64, 65, 100, 191, 192, 193, 256, 1000, 65_536 + 17] {
            let counter = UInt64(count) &* 0x9e37_79b9_7f4a_7c15
            let aad = pattern(count % 29, seed: 5)
            let plaintext = pattern(count, seed: 2)
            let expected = aead.seal(nonce: ChaCha20Poly1305.nonce(counter: counter), plaintext: plaintext, aad: aad)

            var text = plaintext
            var tag = [UInt8](repeating: 0, count: 16)
            text.withUnsafeMutableBytes { text in
                aad.withUnsafeBytes { aad in
                    tag.withUnsafeMutableBytes { aead.seal(counter: counter, aad: aad, text: text, tag: $0) }
                }
            }
            let sealedMatches = text + tag == expected  // a Bool: no 64 KiB dumps on failure
            #expect(sealedMatches, "length \(count)")

            let ok = text.withUnsafeMutableBytes { text in
                aad.withUnsafeBytes { aad in
                    tag.withUnsafeBytes { aead.open(counter: counter, aad: aad, text: text, tag: $0) }
                }
            }
            let opened = ok && text == plaintext
            #expect(opened, "open, length \(count)")
        }
    }

    /// Changing any single byte of ciphertext, tag or AAD (or the nonce) makes open fail; the array form returns nil,
    /// the in-place form returns false and leaves the ciphertext as it was.
    @Test func tamperingIsDetected() {
        let aead = ChaCha20Poly1305(key: pattern(32, seed: 1))
        let counter: UInt64 = 42
        let nonce = ChaCha20Poly1305.nonce(counter: counter)
        let aad = pattern(21, seed: 4)
        let plaintext = pattern(100, seed: 8)
        let sealed = aead.seal(nonce: nonce, plaintext: plaintext, aad: aad)

        func openInPlace(_ sealed: [UInt8], aad: [UInt8], counter: UInt64) -> (Bool, [UInt8]) {
            var text = Array(sealed.dropLast(16))
            let tag = Array(sealed.suffix(16))
            let ok = text.withUnsafeMutableBytes { text in
                aad.withUnsafeBytes { aad in tag.withUnsafeBytes { aead.open(counter: counter, aad: aad, text: text, tag: $0) } }
            }
            return (ok, text)
        }

        for i in sealed.indices {
            for flip: UInt8 in [0x01, 0x80] {
                var bad = sealed
                bad[i] ^= flip
                #expect(aead.open(nonce: nonce, sealed: bad, aad: aad) == nil, "sealed byte \(i)")
                let (ok, text) = openInPlace(bad, aad: aad, counter: counter)
                #expect(!ok, "sealed byte \(i), in place")
                #expect(text == Array(bad.dropLast(16)), "ciphertext left as it was, byte \(i)")
            }
        }
        for i in aad.indices {
            var bad = aad
            bad[i] ^= 0x20
            #expect(aead.open(nonce: nonce, sealed: sealed, aad: bad) == nil, "aad byte \(i)")
            #expect(!openInPlace(sealed, aad: bad, counter: counter).0, "aad byte \(i), in place")
        }
        #expect(aead.open(nonce: nonce, sealed: sealed, aad: aad + [0]) == nil, "aad extended")
        #expect(aead.open(nonce: nonce, sealed: sealed, aad: Array(aad.dropLast())) == nil, "aad truncated")
        #expect(aead.open(nonce: ChaCha20Poly1305.nonce(counter: counter + 1), sealed: sealed, aad: aad) == nil)
        #expect(!openInPlace(sealed, aad: aad, counter: counter + 1).0)
        #expect(aead.open(nonce: nonce, sealed: Array(sealed.dropLast()), aad: aad) == nil, "truncated")
        #expect(aead.open(nonce: nonce, sealed: Array(sealed.prefix(15)), aad: aad) == nil, "shorter than a tag")
        #expect(ChaCha20Poly1305(key: pattern(32, seed: 2)).open(nonce: nonce, sealed: sealed, aad: aad) == nil, "other key")
        // And the untampered record still opens, in both forms.
        #expect(aead.open(nonce: nonce, sealed: sealed, aad: aad) == plaintext)
        #expect(openInPlace(sealed, aad: aad, counter: counter) == (true, plaintext))
    }

    /// An empty plaintext still authenticates its AAD.
    @Test func emptyPlaintext() {
        let aead = ChaCha20Poly1305(key: key80)
        let sealed = aead.seal(nonce: Self.nonceRFC, plaintext: [], aad: Self.aadRFC)
        #expect(sealed.count == 16)
        #expect(aead.open(nonce: Self.nonceRFC, sealed: sealed, aad: Self.aadRFC) == [])
        #expect(aead.open(nonce: Self.nonceRFC, sealed: sealed, aad: []) == nil)
    }
}
