import Testing

@testable import NetKit

@Suite struct ExpandMessageXMDTests {
    private static let messages: [String] = [
        "", "abc", "abcdef0123456789",
        "q128_" + String(repeating: "q", count: 128),
        "a512_" + String(repeating: "a", count: 512),
    ]

    private func expand(_ message: String, _ dst: String, _ length: Int) throws -> String {
        Hex.encode(try ExpandMessageXMD.sha256(message: Array(message.utf8), dst: Array(dst.utf8), length: length))
    }

    // RFC 9380 appendix K.1: expand_message_xmd(SHA-256), DST "QUUX-V01-CS02-with-expander-SHA256-128".
    private static let dst = "QUUX-V01-CS02-with-expander-SHA256-128"

    @Test func rfc9380K1ThirtyTwoBytes() throws {
        let expected = [
            "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235",
            "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615",
            "eff31487c770a893cfb36f912fbfcbff40d5661771ca4b2cb4eafe524333f5c1",
            "b23a1d2b4d97b2ef7785562a7e8bac7eed54ed6e97e29aa51bfe3f12ddad1ff9",
            "4623227bcc01293b8c130bf771da8c298dede7383243dc0993d2d94823958c4c",
        ]
        for (message, output) in zip(Self.messages, expected) {
            #expect(try expand(message, Self.dst, 0x20) == output)
        }
    }

    @Test func rfc9380K1HundredTwentyEightBytes() throws {
        let expected = [
            "af84c27ccfd45d41914fdff5df25293e221afc53d8ad2ac06d5e3e29485dadbee0d121587713a3e0dd4d5e69e93eb7cd4f5df4cd103e188cf60cb02edc3edf18"
                + "eda8576c412b18ffb658e3dd6ec849469b979d444cf7b26911a08e63cf31f9dcc541708d3491184472c2c29bb749d4286b004ceb5ee6b9a7fa5b646c993f0ced",
            "abba86a6129e366fc877aab32fc4ffc70120d8996c88aee2fe4b32d6c7b6437a647e6c3163d40b76a73cf6a5674ef1d890f95b664ee0afa5359a5c4e07985635"
                + "bbecbac65d747d3d2da7ec2b8221b17b0ca9dc8a1ac1c07ea6a1e60583e2cb00058e77b7b72a298425cd1b941ad4ec65e8afc50303a22c0f99b0509b4c895f40",
            "ef904a29bffc4cf9ee82832451c946ac3c8f8058ae97d8d629831a74c6572bd9ebd0df635cd1f208e2038e760c4994984ce73f0d55ea9f22af83ba4734569d4b"
                + "c95e18350f740c07eef653cbb9f87910d833751825f0ebefa1abe5420bb52be14cf489b37fe1a72f7de2d10be453b2c9d9eb20c7e3f6edc5a60629178d9478df",
            "80be107d0884f0d881bb460322f0443d38bd222db8bd0b0a5312a6fedb49c1bbd88fd75d8b9a09486c60123dfa1d73c1cc3169761b17476d3c6b7cbbd727acd0"
                + "e2c942f4dd96ae3da5de368d26b32286e32de7e5a8cb2949f866a0b80c58116b29fa7fabb3ea7d520ee603e0c25bcaf0b9a5e92ec6a1fe4e0391d1cdbce8c68a",
            "546aff5444b5b79aa6148bd81728704c32decb73a3ba76e9e75885cad9def1d06d6792f8a7d12794e90efed817d96920d728896a4510864370c207f99bd4a608"
                + "ea121700ef01ed879745ee3e4ceef777eda6d9e5e38b90c86ea6fb0b36504ba4a45d22e86f6db5dd43d98a294bebb9125d5b794e9d2a81181066eb954966a487",
        ]
        for (message, output) in zip(Self.messages, expected) {
            #expect(try expand(message, Self.dst, 0x80) == output)
        }
    }

    // RFC 9380 appendix K.2: a 256-byte DST, which is first hashed with "H2C-OVERSIZE-DST-".
    @Test func rfc9380K2OversizeDST() throws {
        let dst = "QUUX-V01-CS02-with-expander-SHA256-128-long-DST-" + String(repeating: "1", count: 208)
        #expect(dst.utf8.count == 256)
        #expect(try expand("", dst, 0x20) == "e8dc0c8b686b7ef2074086fbdd2f30e3f8bfbd3bdf177f73f04b97ce618a3ed3")
        #expect(try expand("abc", dst, 0x20) == "52dbf4f36cf560fca57dedec2ad924ee9c266341d8f3d6afe5171733b16bbb12")
        #expect(
            try expand("", dst, 0x80)
                == "14604d85432c68b757e485c8894db3117992fc57e0e136f71ad987f789a0abc287c47876978e2388a02af86b1e8d1342e5ce4f7aaa07a87321e691f6fba7e007"
                + "2eecc1218aebb89fb14a0662322d5edbd873f0eb35260145cd4e64f748c5dfe60567e126604bcab1a3ee2dc0778102ae8a5cfd1429ebc0fa6bf1a53c36f55dfc")
    }

    @Test func rejectsBadParameters() throws {
        #expect(throws: ExpandMessageXMD.InputError.length(0)) { try expand("abc", Self.dst, 0) }
        #expect(throws: ExpandMessageXMD.InputError.length(8161)) { try expand("abc", Self.dst, 8161) }
        #expect(throws: ExpandMessageXMD.InputError.length(-1)) { try expand("abc", Self.dst, -1) }
        #expect(throws: ExpandMessageXMD.InputError.emptyDST) { try expand("abc", "", 32) }
        #expect(try expand("abc", Self.dst, 8160).count == 2 * 8160)
        #expect(try expand("abc", Self.dst, 1).count == 2)
    }

    /// The first bytes of a longer output differ from a shorter one: the length is hashed in.
    @Test func outputDependsOnLength() throws {
        let short = try expand("abc", Self.dst, 0x20)
        let long = try expand("abc", Self.dst, 0x80)
        #expect(!long.hasPrefix(short))
    }

    // hash_to_field(msg, 2) for GF(2^255 − 19) with the K.1 expander. RFC 9380 has no curve25519 suite
    // over SHA-256, so these were computed with an independent Python implementation (hashlib and
    // big integers) that reproduces the K.1 vectors above.
    @Test func hashToField() throws {
        func bigEndianHex(_ element: Curve25519FieldElement) -> String { Hex.encode(element.bytes.reversed()) }
        let dst = Array(Self.dst.utf8)
        let empty = try Curve25519FieldElement.hashToField(message: [], dst: dst, count: 2)
        #expect(bigEndianHex(empty[0]) == "1eb3384cc5ca30dc6878563573ff7f14f747b3153aa84aa28243395db4f5eec1")
        #expect(bigEndianHex(empty[1]) == "35bda8d8841e493fc9606f8cf16aad17dd08484bdffbdc41ca4d0e10fd533549")
        let abc = try Curve25519FieldElement.hashToField(message: Array("abc".utf8), dst: dst, count: 2)
        #expect(bigEndianHex(abc[0]) == "21a44f758cb4ceafdf7ce15f767106fd70e62fdce26009e524e6f6e0951361a8")
        #expect(bigEndianHex(abc[1]) == "1a7e45c260f68f22d3f8a2e0b0d0827ca70c9c3de9745cac09e602a3036b0ee5")
        #expect(throws: ExpandMessageXMD.InputError.self) {
            try Curve25519FieldElement.hashToField(message: [], dst: dst, count: 0)
        }
    }
}
