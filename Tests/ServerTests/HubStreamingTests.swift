import Testing

@testable import SignalRMesh

/// Issue 9, weakness 7: a hub connection used to assemble a whole WebSocket message (up to 1 MiB) before the
/// 32 KB hub limit applied. Its WebSocket now streams each frame's payload into the 0x1E framer as it arrives.
@Suite struct HubStreamingTests {
    static let key: [UInt8] = [0x11, 0x22, 0x33, 0x44]

    static func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var out = [UInt8]()
        WebSocketFrameEncoder.encode(opcode, payload: payload, fin: fin, maskKey: key, into: &out)
        return out
    }

    static func hub(_ json: String) -> [UInt8] { Array(json.utf8) + [0x1E] }

    /// Streaming events joined back into whole messages, to compare with a non-streaming parser.
    struct Joined: Equatable {
        var events: [WebSocketEvent] = []
        var error: UInt16?
        /// Chunks that claimed to end a message, and chunks in all (each must carry bytes unless it ends one).
        var ends = 0
        var emptyMiddleChunks = 0
    }

    /// `releasing`: the parser lets go of its idle buffers after every chunk (what a quiet connection does).
    static func feed(
        _ chunks: [[UInt8]], streaming: Bool, limits: WebSocketLimits = .init(), releasing: Bool = false
    ) -> Joined {
        var parser = WebSocketFrameParser(role: .server, limits: limits, streaming: streaming)
        var out = Joined()
        var pending: [UInt8] = []
        for chunk in chunks {
            parser.append(chunk)
            do {
                while let event = try parser.next() {
                    if case .dataChunk(let text, let bytes, let last) = event {
                        pending += bytes
                        if bytes.isEmpty && !last { out.emptyMiddleChunks += 1 }
                        if last {
                            out.events.append(text ? .text(pending) : .binary(pending))
                            out.ends += 1
                            pending = []
                        }
                    } else {
                        out.events.append(event)
                    }
                }
            } catch let e as WebSocketProtocolError {
                out.error = e.code
                return out
            } catch {
                Issue.record("\(error)")
                return out
            }
            if releasing { parser.releaseIdleBuffers() }
        }
        return out
    }

    @Test func streamingGivesTheSameMessagesForEverySplit() {
        var input = Self.frame(.text, Self.hub(#"{"type":6}"#) + Self.hub(#"{"type":1,"target":"A","arguments":[]}"#))
        input += Self.frame(.text, Array(#"{"type":1,"tar"#.utf8), fin: false)
        input += Self.frame(.ping, [1, 2, 3])
        input += Self.frame(.continuation, [], fin: false)
        input += Self.frame(.continuation, Array(#"get":"ünï","arguments":[]}"#.utf8) + [0x1E], fin: true)
        input += Self.frame(.binary, [0, 1, 2], fin: true)
        input += Self.frame(.text, [], fin: true)
        input += Self.frame(.close, [0x03, 0xE8])
        let whole = Self.feed([input], streaming: false)
        #expect(whole.error == nil && whole.events.count == 6)
        let streamed = expectSameForEverySplit(input) { chunks -> Joined in
            var j = Self.feed(chunks, streaming: true)
            #expect(j.emptyMiddleChunks == 0)
            j.emptyMiddleChunks = 0
            return j
        }
        #expect(streamed.events == whole.events)
        #expect(streamed.ends == 4)
    }

    @Test func invalidUTF8IsStillCaughtWhenStreaming() {
        let bad = Self.frame(.text, [0x7B, 0xC3, 0x28])
        #expect(Self.feed([bad], streaming: true).error == 1007)
        let cut = Self.frame(.text, [0x7B, 0xC3], fin: false) + Self.frame(.continuation, [0xA9, 0x7D])
        #expect(Self.feed([cut], streaming: true).error == nil)
        let endsInside = Self.frame(.text, [0x7B, 0xC3])
        #expect(Self.feed([endsInside], streaming: true).error == 1007)
    }

    /// What one hub connection holds while a 40 KB single-frame message arrives in TCP-sized reads: the framer
    /// gives up as soon as the unterminated message passes 32 KB, long before the frame is complete, and never
    /// holds more than the limit.
    @Test func anOversizeMessageFailsBeforeItIsBuffered() throws {
        let payload = Self.hub(#"{"type":1,"target":"SendMessage","arguments":["big",""# + String(repeating: "x", count: 40 * 1024) + #""]}"#)
        let input = Self.frame(.text, payload)
        var parser = WebSocketFrameParser(role: .server, limits: WebSocketLimits(maxFrameSize: .max, maxMessageSize: .max), streaming: true)
        var framer = RecordSeparatorFramer(maxMessageSize: 32 * 1024)
        var fed = 0
        var maxHeld = 0
        var failedAt: Int?
        reading: for start in stride(from: 0, to: input.count, by: 1460) {
            let read = Array(input[start..<min(start + 1460, input.count)])
            fed += read.count
            parser.append(read)
            while let event = try parser.next() {
                guard case .dataChunk(_, let bytes, _) = event else { continue }
                framer.append(bytes)
                maxHeld = max(maxHeld, framer.bufferedCount + parser.bufferedByteCount)
                do {
                    while try framer.next() != nil {}
                } catch {
                    failedAt = fed
                    break reading
                }
            }
        }
        let at = try #require(failedAt, "the oversize message was never refused")
        #expect(at <= 32 * 1024 + 1460 + 16, "refused only after \(at) bytes")
        #expect(at < input.count, "refused before the frame was complete")
        #expect(maxHeld <= 32 * 1024, "held \(maxHeld) bytes")
        // The old way: a message-assembling parser has delivered nothing at that point and holds everything.
        var assembling = WebSocketFrameParser(role: .server, limits: WebSocketLimits(maxFrameSize: 1 << 20, maxMessageSize: 1 << 20))
        assembling.append(Array(input[..<at]))
        #expect(try assembling.next() == nil)
    }

    @Test func severalHubMessagesInOneFrameAndOneAcrossFragments() throws {
        let big = String(repeating: "y", count: 20_000)
        let m1 = #"{"type":1,"target":"SendMessage","arguments":["a",""# + big + #""]}"#
        let m2 = #"{"type":6}"#
        let m3 = #"{"type":1,"target":"SendMessage","arguments":["b",""# + big + #""]}"#
        // Three hub messages (40 KB together, more than the hub limit) in one WebSocket message, then one hub
        // message over five fragments.
        var input = Self.frame(.text, Self.hub(m1) + Self.hub(m2) + Self.hub(m3))
        let split = Self.hub(m1)
        let parts = stride(from: 0, to: split.count, by: split.count / 5 + 1).map { Array(split[$0..<min($0 + split.count / 5 + 1, split.count)]) }
        for (i, part) in parts.enumerated() {
            input += Self.frame(i == 0 ? .text : .continuation, part, fin: i == parts.count - 1)
            if i == 1 { input += Self.frame(.pong, []) }
        }
        for step in [1, 7, 1460, 65536, input.count] {
            var parser = WebSocketFrameParser(role: .server, limits: WebSocketLimits(maxFrameSize: .max, maxMessageSize: .max), streaming: true)
            var framer = RecordSeparatorFramer(maxMessageSize: 32 * 1024)
            var messages: [String] = []
            for start in stride(from: 0, to: input.count, by: step) {
                parser.append(Array(input[start..<min(start + step, input.count)]))
                while let event = try parser.next() {
                    guard case .dataChunk(_, let bytes, _) = event else { continue }
                    framer.append(bytes)
                    while let m = try framer.next() { messages.append(String(decoding: m, as: UTF8.self)) }
                }
            }
            #expect(messages == [m1, m2, m3, m1], "reads of \(step) bytes")
        }
    }

    @Test func framerFailsEarlyOnlyForAnUnterminatedTail() throws {
        var f = RecordSeparatorFramer(maxMessageSize: 10)
        f.append(Array("12345".utf8))
        #expect(try f.next() == nil)
        f.append(Array("6789\u{1E}abc".utf8))  // ends the message: fine
        #expect(try f.next() == Array("123456789".utf8))
        #expect(try f.next() == nil)
        f.append(Array("defghijk".utf8))  // "abc" + 8 = 11 > 10 with no separator: refused without buffering
        #expect(f.hasFailed && f.bufferedCount == 0)
        #expect(throws: FramerError.messageTooLarge) { try f.next() }
    }
}
