import Testing

@testable import SignalRMesh

/// The wire form of forwarded transport requests (no sticky sessions): bytes from another replica.
struct ForwardMessageTests {
    static let samples: [ForwardMessage] = [
        .open(request: 1, hub: "ChatHub", token: "abcdefabcdefabcdefabcd", transport: .webSockets),
        .open(request: .max, hub: "", token: "", transport: .serverSentEvents),
        .opened(request: 2, status: 0, text: ""),
        .opened(request: 3, status: 409, text: "Connection already has an active WebSocket"),
        .data(session: 4, format: .text, bytes: Array("{}\u{1E}".utf8), toOwner: true),
        .data(session: 4, format: .binary, bytes: [0x02, 0x91, 0x06], toOwner: false),
        .data(session: 5, format: .text, bytes: [], toOwner: false),
        .close(session: 6, toOwner: true),
        .close(session: 6, toOwner: true, clean: true),
        .close(session: 6, toOwner: false),
        .http(request: 7, hub: "DemoHub", token: "t", method: .poll, body: []),
        .http(request: 8, hub: "DemoHub", token: "t", method: .send, body: Array("{\"type\":6}\u{1E}".utf8)),
        .http(request: 9, hub: "DemoHub", token: "t", method: .delete, body: []),
        .reply(request: 10, status: 200, contentType: "application/octet-stream", body: [1, 2, 3]),
        .reply(request: 11, status: 204, contentType: "", body: []),
    ]

    static func decode(_ bytes: [UInt8]) -> ForwardMessage? {
        bytes.withUnsafeBytes { raw in
            guard ClusterMessage.kind(of: raw) == .forward else { return nil }
            return ForwardMessage.decode(UnsafeRawBufferPointer(rebasing: raw[2...]))
        }
    }

    @Test(arguments: samples) func roundTrip(_ m: ForwardMessage) {
        #expect(Self.decode(m.encode()) == m)
    }

    @Test(arguments: samples) func everyTruncationAndTrailingByteIsRefused(_ m: ForwardMessage) {
        let bytes = m.encode()
        for n in 2..<bytes.count {
            #expect(Self.decode(Array(bytes.prefix(n))) == nil, "prefix \(n) of \(bytes.count)")
        }
        #expect(Self.decode(bytes + [0]) == nil, "a trailing byte")
    }

    @Test func directionIsPartOfTheKind() {
        // Two replicas can each front a session for the other under the same id: the direction must survive.
        let toOwner = ForwardMessage.data(session: 1, format: .text, bytes: [1], toOwner: true).encode()
        let toFront = ForwardMessage.data(session: 1, format: .text, bytes: [1], toOwner: false).encode()
        #expect(toOwner != toFront)
        #expect(Self.decode(toFront) == .data(session: 1, format: .text, bytes: [1], toOwner: false))
    }

    @Test func unknownKindTransportMethodOrFormatIsRefused() {
        var open = ForwardMessage.open(request: 1, hub: "h", token: "t", transport: .webSockets).encode()
        open[open.count - 1] = 9
        #expect(Self.decode(open) == nil)
        var http = ForwardMessage.http(request: 1, hub: "h", token: "t", method: .poll, body: []).encode()
        http[http.count - 5] = 0
        #expect(Self.decode(http) == nil)
        var data = ForwardMessage.data(session: 1, format: .text, bytes: [], toOwner: true).encode()
        data[2 + 1 + 8] = 2
        #expect(Self.decode(data) == nil)
        #expect(Self.decode([ClusterMessage.version, ClusterMessage.Kind.forward.rawValue, 99]) == nil)
        #expect(Self.decode([ClusterMessage.version, ClusterMessage.Kind.forward.rawValue]) == nil)
    }

    @Test func theGeneralDecoderLeavesForwardMessagesAlone() {
        for m in Self.samples { #expect(ClusterMessage.decode(m.encode()) == nil) }
    }
}
