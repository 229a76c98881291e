import Testing

@testable import SignalRMesh

/// Issue 13: after the hub handshake a WebSocket's parser lets go of the buffers it keeps for reuse, so an idle
/// connection holds none. Letting go must never lose a partial frame or message.
@Suite struct ParserIdleBuffersTests {
    @Test(arguments: [false, true])
    func releasingBetweenReadsKeepsEverythingStillNeeded(streaming: Bool) {
        var input = HubStreamingTests.frame(.text, HubStreamingTests.hub(#"{"protocol":"json","version":1}"#))
        input += HubStreamingTests.frame(.text, Array(#"{"type":1,"tar"#.utf8), fin: false)
        input += HubStreamingTests.frame(.ping, [1, 2, 3])
        input += HubStreamingTests.frame(.continuation, Array(#"get":"ünï","arguments":[]}"#.utf8) + [0x1E], fin: true)
        input += HubStreamingTests.frame(.binary, [0, 1, 2], fin: true)
        input += HubStreamingTests.frame(.close, [0x03, 0xE8])
        let whole = HubStreamingTests.feed([input], streaming: false)
        #expect(whole.error == nil && whole.events.count == 5)
        let released = expectSameForEverySplit(input) { HubStreamingTests.feed($0, streaming: streaming, releasing: true) }
        #expect(released.events == whole.events)
    }

    @Test func anIdleParserHoldsNoBufferAfterReleasing() throws {
        var parser = WebSocketFrameParser(role: .server, streaming: true)
        parser.append(HubStreamingTests.frame(.text, HubStreamingTests.hub(#"{"protocol":"json","version":1}"#)))
        while try parser.next() != nil {}
        #expect(parser.retainedCapacity > 0)
        parser.releaseIdleBuffers()
        #expect(parser.retainedCapacity == 0)
    }

    @Test func aPartialFrameIsKept() throws {
        var parser = WebSocketFrameParser(role: .server, streaming: false)
        let frame = HubStreamingTests.frame(.text, Array("hello".utf8))
        parser.append(Array(frame.prefix(4)))
        #expect(try parser.next() == nil)
        parser.releaseIdleBuffers()
        parser.append(Array(frame.dropFirst(4)))
        #expect(try parser.next() == .text(Array("hello".utf8)))
    }
}
