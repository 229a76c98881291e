import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Just enough of a SignalR JSON client over a raw socket for these tests: negotiate, WebSocket, handshake,
/// invocations and the messages that come back. Every read has a deadline.
final class TestClient {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var pending: [[String: Any]] = []
    private var nextId = 0
    let connectionId: String

    init(port: UInt16, path: String) throws {
        // Negotiate on its own connection (the server keeps HTTP connections alive; a new one is simpler here).
        let negotiation = try Self.negotiate(port: port, path: path)
        connectionId = negotiation.id
        fd = try Self.connect(port: port)
        Self.setTimeout(fd, seconds: 5)
        try send(Array("GET \(path)?id=\(negotiation.token) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".utf8))
        let head = try readUntil(Array("\r\n\r\n".utf8))
        guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else { throw TestClientError("upgrade refused") }
        try sendText("{\"protocol\":\"json\",\"version\":1}\u{1E}")
        let handshake = try nextRecord()
        guard handshake == "{}" else { throw TestClientError("handshake: \(handshake)") }
    }

    deinit { close(fd) }

    /// Invokes `method` and returns its Completion.
    func invoke(_ method: String, _ arguments: [Any]) throws -> [String: Any] {
        nextId += 1
        let id = String(nextId)
        let body = try JSONSerialization.data(withJSONObject: ["type": 1, "invocationId": id, "target": method, "arguments": arguments])
        try sendText(String(decoding: body, as: UTF8.self) + "\u{1E}")
        while true {
            let message = try nextMessage()
            if message["type"] as? Int == 3, message["invocationId"] as? String == id { return message }
            if message["type"] as? Int == 1 { pending.append(message) }
        }
    }

    /// The next invocation the server sends (pings skipped).
    func nextInvocation() throws -> (target: String, arguments: [Any]) {
        if !pending.isEmpty {
            let m = pending.removeFirst()
            return (m["target"] as! String, m["arguments"] as! [Any])
        }
        while true {
            let m = try nextMessage()
            if m["type"] as? Int == 1 { return (m["target"] as! String, m["arguments"] as! [Any]) }
        }
    }

    private func nextMessage() throws -> [String: Any] {
        while true {
            let record = try nextRecord()
            let object = try JSONSerialization.jsonObject(with: Data(record.utf8)) as! [String: Any]
            if object["type"] as? Int != 6 { return object }
        }
    }

    private var records: [String] = []

    private func nextRecord() throws -> String {
        while records.isEmpty {
            let payload = try readFrame()
            let text = String(decoding: payload, as: UTF8.self)
            records += text.split(separator: "\u{1E}", omittingEmptySubsequences: true).map(String.init)
        }
        return records.removeFirst()
    }

    private func readFrame() throws -> [UInt8] {
        try fill(2)
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            try fill(4)
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            offset = 4
        } else if length == 127 {
            try fill(10)
            length = (2..<10).reduce(0) { $0 << 8 | Int(buffer[$1]) }
            offset = 10
        }
        try fill(offset + length)
        let payload = Array(buffer[offset..<offset + length])
        buffer.removeFirst(offset + length)
        return payload
    }

    private func sendText(_ text: String) throws {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [1, 2, 3, 4]
        frame += mask
        for (i, b) in payload.enumerated() { frame.append(b ^ mask[i % 4]) }
        try send(frame)
    }

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestClientError("send failed") }
            sent += n
        }
    }

    private func fill(_ count: Int) throws {
        while buffer.count < count {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw TestClientError("connection closed or timed out") }
            buffer += chunk[0..<n]
        }
    }

    private func readUntil(_ marker: [UInt8]) throws -> [UInt8] {
        while true {
            if let range = buffer.firstRange(of: marker) {
                let head = Array(buffer[..<range.upperBound])
                buffer.removeFirst(range.upperBound)
                return head
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw TestClientError("connection closed or timed out") }
            buffer += chunk[0..<n]
        }
    }

    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw TestClientError("connect failed") }
        return fd
    }

    private static func setTimeout(_ fd: Int32, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func negotiate(port: UInt16, path: String) throws -> (id: String, token: String) {
        let fd = try connect(port: port)
        defer { close(fd) }
        setTimeout(fd, seconds: 5)
        let request = Array("POST \(path)/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        guard let split = response.firstRange(of: Array("\r\n\r\n".utf8)) else { throw TestClientError("no negotiate response") }
        let body = try JSONSerialization.jsonObject(with: Data(response[split.upperBound...])) as! [String: Any]
        return (body["connectionId"] as! String, body["connectionToken"] as! String)
    }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}
