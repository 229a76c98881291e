import NetKit

/// Why an upgrade request was refused, as the HTTP response to send (RFC 6455 §4.2.1, §4.2.2).
struct HandshakeError: Error, Equatable, Sendable {
    /// 400 (malformed request), 405 (not GET) or 426 (unsupported `Sec-WebSocket-Version`).
    var status: Int
    /// A short plain-text body.
    var message: String

    init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    /// Headers the response must carry besides the usual ones: a 426 tells the client which version we speak
    /// (RFC 6455 §4.4), and a 405 which method is allowed (RFC 9110 §15.5.6).
    var headers: [(String, String)] {
        switch status {
        case 426: return [("Sec-WebSocket-Version", "13")]
        case 405: return [("Allow", "GET")]
        default: return []
        }
    }
}

/// The HTTP/1.1 upgrade handshake (RFC 6455 §4), independent of any HTTP parser: callers pass header lookups.
enum WebSocketHandshake {
    /// The GUID every server appends to the client's key (RFC 6455 §1.3).
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
    static func acceptValue(forKey key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + guid).utf8)))
    }

    /// Validates a server-side upgrade request.
    /// - Parameters:
    ///   - method: the request method, case-sensitive as in HTTP.
    ///   - versionIsHTTP11: whether the request is HTTP/1.1 (the upgrade mechanism needs 1.1).
    ///   - header: looks up a header case-insensitively (first value).
    ///   - tokens: the comma-split, trimmed, lowercased tokens of all values of a header.
    /// - Returns: the client's `Sec-WebSocket-Key` (trimmed), or the error response to send.
    static func validateRequest(
        method: String, versionIsHTTP11: Bool, header: (String) -> String?, tokens: (String) -> [String]
    ) -> Result<String, HandshakeError> {
        guard method == "GET" else { return .failure(HandshakeError(status: 405, message: "WebSocket upgrade requires GET")) }
        guard versionIsHTTP11 else { return .failure(HandshakeError(status: 400, message: "WebSocket upgrade requires HTTP/1.1")) }
        guard tokens("Upgrade").contains("websocket") else {
            return .failure(HandshakeError(status: 400, message: "Missing Upgrade: websocket"))
        }
        guard tokens("Connection").contains("upgrade") else {
            return .failure(HandshakeError(status: 400, message: "Missing Connection: Upgrade"))
        }
        // Exactly one version, and it must be 13. A missing header gets 426 too, so the client learns what to send.
        guard tokens("Sec-WebSocket-Version").filter({ !$0.isEmpty }) == ["13"] else {
            return .failure(HandshakeError(status: 426, message: "Unsupported WebSocket version"))
        }
        // Exactly one key (a key has no commas, so several values show up as several tokens), which must decode to
        // 16 bytes (§4.2.1 item 5).
        guard tokens("Sec-WebSocket-Key").filter({ !$0.isEmpty }).count == 1, let raw = header("Sec-WebSocket-Key") else {
            return .failure(HandshakeError(status: 400, message: "Missing or repeated Sec-WebSocket-Key"))
        }
        let key = trimmed(raw)
        guard let nonce = Base64.decode(key), nonce.count == 16 else {
            return .failure(HandshakeError(status: 400, message: "Invalid Sec-WebSocket-Key"))
        }
        return .success(key)
    }

    /// The `101 Switching Protocols` response for a validated key.
    /// - Parameter extraHeaders: more header lines (e.g. `Sec-WebSocket-Protocol`), in order.
    static func response(forKey key: String, extraHeaders: [(String, String)] = []) -> [UInt8] {
        var text = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        text += "Sec-WebSocket-Accept: \(acceptValue(forKey: key))\r\n"
        for (name, value) in extraHeaders { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// A client upgrade request, for our load client and tests.
    /// - Parameters:
    ///   - host: the `Host` header value.
    ///   - path: the request target, including any query.
    ///   - key: a `Sec-WebSocket-Key` (see `makeKey`).
    ///   - extraHeaders: more header lines, in order.
    static func clientRequest(host: String, path: String, key: String, extraHeaders: [(String, String)] = []) -> [UInt8] {
        var text = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        text += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in extraHeaders { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// A fresh random `Sec-WebSocket-Key`: 16 random bytes, base64-encoded.
    static func makeKey() -> String {
        var generator = SystemRandomNumberGenerator()
        return makeKey(using: &generator)
    }

    /// A `Sec-WebSocket-Key` from the given generator (tests pass a seeded one).
    static func makeKey<G: RandomNumberGenerator>(using generator: inout G) -> String {
        Base64.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Client side: whether the server's response accepts our upgrade (RFC 6455 §4.1, the checks a client must make).
    static func isValidResponse(status: Int, header: (String) -> String?, tokens: (String) -> [String], key: String) -> Bool {
        guard status == 101,
            tokens("Upgrade").contains("websocket"),
            tokens("Connection").contains("upgrade"),
            let accept = header("Sec-WebSocket-Accept")
        else { return false }
        return trimmed(accept) == acceptValue(forKey: key)
    }

    /// `s` without leading and trailing spaces and tabs (HTTP optional whitespace), without Foundation.
    private static func trimmed(_ s: String) -> String {
        let utf8 = s.utf8
        guard let first = utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
            let last = utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })
        else { return "" }
        return String(decoding: utf8[first...last], as: UTF8.self)
    }
}
