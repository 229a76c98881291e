/// JSON hub protocol messages the benchmarks send, each ending with the record separator 0x1E.
enum HubMessages {
    static let recordSeparator: UInt8 = 0x1E
    static let handshake: [UInt8] = Array("{\"protocol\":\"json\",\"version\":1}".utf8) + [0x1E]
    static let ping: [UInt8] = Array("{\"type\":6}".utf8) + [0x1E]

    /// A non-blocking invocation (no invocationId) of `SendMessage(user, message)`. `message` must need no JSON
    /// escaping (the benchmarks only use ASCII letters, digits and `|`).
    static func appendSendMessage(user: String, message: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(contentsOf: "{\"type\":1,\"target\":\"SendMessage\",\"arguments\":[\"".utf8)
        out.append(contentsOf: user.utf8)
        out.append(contentsOf: "\",\"".utf8)
        out.append(contentsOf: message)
        out.append(contentsOf: "\"]}".utf8)
        out.append(recordSeparator)
    }
}
