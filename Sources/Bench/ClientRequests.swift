/// Requests a SignalR client sends before the hub protocol starts.
enum ClientRequests {
    /// `POST {hub}/negotiate?negotiateVersion=1` with an empty body.
    static func negotiate(_ url: HubURL) -> [UInt8] {
        Array(
            ("POST \(url.path)/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: \(url.hostHeader)\r\n"
                + "Content-Length: 0\r\nUser-Agent: signalr-bench\r\n\r\n").utf8)
    }

    /// The WebSocket upgrade for the hub (with `id=token`, or none = skipNegotiation), followed by the JSON hub
    /// handshake in the same write: the server must keep the bytes that arrive after an upgrade request.
    static func upgradeAndHandshake(_ url: HubURL, token: String?, key: String, mask: inout MaskSource) -> [UInt8] {
        var target = url.path
        if let token { target += "?id=" + percentEncode(token) }
        var out = Array(
            ("GET \(target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nUser-Agent: signalr-bench\r\n\r\n").utf8)
        ClientFrame.appendText(HubMessages.handshake, mask: mask.next(), into: &out)
        return out
    }

    /// Query-value percent-encoding of everything outside the unreserved set.
    static func percentEncode(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
