import Testing

@testable import Mesh

private let nonce = (0..<32).map { UInt8($0) }

/// One of every frame type, with edge values.
let sampleFrames: [MeshFrame] = [
    .hello(MeshHello(cluster: "demo", nodeId: "a", epoch: 1_700_000_000_000_000, nonce: nonce)),
    .hello(MeshHello(protocolVersion: 2, cluster: "", nodeId: "ünï", epoch: .max, nonce: nonce.reversed(), flags: 0xff)),
    .hello(MeshHello(cluster: "demo", nodeId: "b", epoch: 9, nonce: nonce, flags: MeshHello.encryptFlag)),
    .share([UInt8](repeating: 0x9c, count: 32)),
    .confirm(mac: [UInt8](repeating: 0xab, count: 32)),
    .accept,
    .reject(reason: "cluster mismatch"),
    .reject(reason: ""),
    .resume([]),
    .resume([
        OriginCursor(origin: "a", epoch: 5, seq: 9), OriginCursor(origin: "bb", epoch: 0, seq: 0),
        OriginCursor(origin: "c", epoch: .max, seq: .max),
    ]),
    .data(MeshData(origin: "a", epoch: 3, seq: 1, payload: [])),
    .data(MeshData(origin: "node-7", epoch: 3, seq: 42, flags: MeshData.gapBeforeFlag, payload: Array("hello".utf8))),
    .data(MeshData(origin: "x", epoch: 1, seq: 2, payload: [UInt8](repeating: 7, count: 70_000))),
    .ack([OriginCursor(origin: "a", epoch: 1, seq: 2)]),
    .heartbeat(nanos: 123_456_789),
    .heartbeatAck(nanos: .max),
    .links([]),
    .links([LinkReport(peerId: "a", peerEpoch: 1, up: true), LinkReport(peerId: "b", peerEpoch: 2, up: false)]),
    .links([LinkReport(peerId: "c", peerEpoch: 9, up: true, heldEpoch: 9, heldFrom: 1 << 40)]),
    .data(MeshData(origin: "c", epoch: 9, seq: 7, flags: MeshData.notHeldBeforeFlag, payload: [])),
    .data(MeshData(origin: "a", epoch: 2, seq: 5, destinations: ["b"], payload: Array("to b".utf8))),
    .data(MeshData(origin: "a", epoch: 2, seq: 6, destinations: [], payload: [1])),
    .data(MeshData(origin: "a", epoch: 2, seq: 9, filtered: FilteredRange(from: 6), payload: [])),
    .data(
        MeshData(
            origin: "node-7", epoch: .max, seq: 1 << 50, flags: MeshData.gapBeforeFlag, destinations: ["b", "ünï", "c"],
            filtered: FilteredRange(
                from: 3, latest: [FilteredRange.Mark(replica: "d", seq: 1 << 49), FilteredRange.Mark(replica: "e", seq: 4)]),
            payload: Array("both parts".utf8))),
    .leaving,
]

private func decodeAll(_ chunks: [ArraySlice<UInt8>], maxFrameBytes: Int = MeshProtocol.defaultMaxFrameBytes) throws -> [MeshFrame] {
    var decoder = MeshFrameDecoder(maxFrameBytes: maxFrameBytes)
    var frames = [MeshFrame]()
    for chunk in chunks {
        decoder.append(chunk)
        while let frame = try decoder.next() { frames.append(frame) }
    }
    #expect(decoder.bufferedCount == 0)
    return frames
}

@Suite struct MeshFrameTests {
    @Test func everyTypeIsCovered() {
        #expect(Set(sampleFrames.map(\.type)) == Set(MeshFrameType.allCases))
    }

    @Test(arguments: sampleFrames)
    func roundTrip(_ frame: MeshFrame) throws {
        let bytes = frame.encoded()
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        #expect(length == bytes.count - 4)
        #expect(bytes[4] == frame.type.rawValue)
        #expect(try MeshFrame.decode(typeAndBody: Array(bytes[4...])) == frame)
        #expect(try decodeAll([bytes[...]]) == [frame])
    }

    @Test func exactWireLayout() {
        #expect(MeshFrame.accept.encoded() == [0, 0, 0, 1, 3])
        #expect(MeshFrame.heartbeat(nanos: 0x0102_0304_0506_0708).encoded() == [0, 0, 0, 9, 8, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(
            MeshFrame.data(MeshData(origin: "a", epoch: 2, seq: 3, flags: 1, payload: [9])).encoded()
                == [0, 0, 0, 26, 6, 0, 1, 97, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 1, 9])
    }

    @Test func exactWireLayoutOfTheOptionalParts() {
        let frame = MeshFrame.data(
            MeshData(
                origin: "a", epoch: 2, seq: 3, destinations: ["b", "cc"],
                filtered: FilteredRange(from: 1, latest: [FilteredRange.Mark(replica: "d", seq: 2)]), payload: [9]))
        #expect(
            frame.encoded() == [0, 0, 0, 51, 6, 0, 1, 97, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0x0c]
                + [2, 1, 98, 2, 99, 99]  // destinations: count, then u8-length ids
                + [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 100, 0, 0, 0, 0, 0, 0, 0, 2]  // from, count, (id, seq)
                + [0, 0, 0, 1, 9])
        // The two flag bits always say which parts follow, whatever the caller put in `flags`.
        let data = MeshData(origin: "a", epoch: 1, seq: 1, flags: 0x0f, payload: [])
        #expect(data.flags == 0x03 && data.destinations == nil && data.filtered == nil)
        #expect(MeshData(origin: "a", epoch: 1, seq: 1, destinations: [], payload: []).flags == MeshData.hasDestinationsFlag)
        #expect(MeshData(origin: "a", epoch: 1, seq: 1, destinations: ["x"], payload: []).isFor("x"))
        #expect(!MeshData(origin: "a", epoch: 1, seq: 1, destinations: ["x"], payload: []).isFor("y"))
        #expect(MeshData(origin: "a", epoch: 1, seq: 1, payload: []).isFor("y"))
    }

    @Test func filteredRangeMarks() {
        var range = FilteredRange(from: 4)
        range.add(seq: 4, destinations: ["b", "c"])
        range.add(seq: 6, destinations: ["c"])
        #expect(range.latest(for: "b") == 4 && range.latest(for: "c") == 6 && range.latest(for: "d") == nil)
        #expect(range.newMarks(["b", "d", "e"]) == 2)
        #expect(range.after(5) == FilteredRange(from: 6, latest: [FilteredRange.Mark(replica: "c", seq: 6)]))
        // Duplicate marks from the wire: the highest counts.
        let twice = FilteredRange(from: 1, latest: [.init(replica: "b", seq: 9), .init(replica: "b", seq: 3)])
        #expect(twice.latest(for: "b") == 9)
    }

    @Test func appendDataMatchesEncode() {
        let data = MeshData(origin: "origin", epoch: 77, seq: 88, flags: 1, payload: [1, 2, 3])
        var buffer = [UInt8]()
        MeshFrame.appendData(origin: "origin", epoch: 77, seq: 88, flags: 1, payload: [1, 2, 3], into: &buffer)
        #expect(buffer == MeshFrame.data(data).encoded())
        #expect(buffer.count == MeshFrame.dataFrameCount(originCount: 6, payloadCount: 3))
        let hole = FilteredRange(from: 80, latest: [.init(replica: "x", seq: 85)])
        let targeted = MeshData(origin: "origin", epoch: 77, seq: 88, destinations: ["p", "q"], filtered: hole, payload: [4])
        buffer = []
        MeshFrame.appendData(
            origin: "origin", epoch: 77, seq: 88, flags: 0, destinations: ["p", "q"], filtered: hole, payload: [4],
            into: &buffer)
        #expect(buffer == MeshFrame.data(targeted).encoded())
        #expect(
            buffer.count
                == MeshFrame.dataFrameCount(originCount: 6, payloadCount: 1) + MeshFrame.destinationsCount(["p", "q"]) + 8 + 1
                + 1 + 1 + 8)
    }

    /// The whole sample stream split into two chunks at every byte position, and one byte at a time.
    @Test func decoderSplitAtEveryPosition() throws {
        // Drop the 70 KB frame to keep this quadratic test fast; it's covered by roundTrip.
        let frames = sampleFrames.filter { if case .data(let d) = $0 { return d.payload.count < 1000 }; return true }
        var stream = [UInt8]()
        for frame in frames { frame.encode(into: &stream) }

        #expect(try decodeAll([stream[...]]) == frames)
        for split in 0...stream.count {
            #expect(try decodeAll([stream[..<split], stream[split...]]) == frames, "split at \(split)")
        }
        #expect(try decodeAll(stream.indices.map { stream[$0...$0] }) == frames)
    }

    /// The receiving link's way: plain DATA frames as views (`nextData`), everything else from `next`. The same
    /// frames as `next` alone, whatever the split, with or without an intern table.
    @Test(arguments: [false, true])
    func dataViewsDecodeLikeFrames(interned: Bool) throws {
        let frames = sampleFrames.filter { if case .data(let d) = $0 { return d.payload.count < 1000 }; return true }
        var stream = [UInt8]()
        for frame in frames { frame.encode(into: &stream) }
        let intern = interned ? InternTable(["a", "node-7", "b"]) : nil
        func decodeViews(_ chunks: [ArraySlice<UInt8>]) throws -> [MeshFrame] {
            var decoder = MeshFrameDecoder(intern: intern)
            var out = [MeshFrame]()
            var views = 0
            for chunk in chunks {
                decoder.append(chunk)
                while true {
                    if let view = try decoder.nextData() {
                        views += 1
                        out.append(.data(view.owned(interned: intern)))
                    } else if let frame = try decoder.next() {
                        out.append(frame)
                    } else {
                        break
                    }
                }
            }
            #expect(decoder.bufferedCount == 0)
            // The three plain DATA frames came as views; the four with optional parts did not.
            #expect(views == 3)
            return out
        }
        #expect(try decodeViews([stream[...]]) == frames)
        for split in stride(from: 0, through: stream.count, by: 7) {
            #expect(try decodeViews([stream[..<split], stream[split...]]) == frames, "split at \(split)")
        }
        #expect(try decodeViews(stream.indices.map { stream[$0...$0] }) == frames)
    }

    @Test func malformedDataViews() throws {
        /// What the view says, read while its decoder (its bytes and intern table) is alive.
        struct Seen: Equatable {
            var origin: String
            var internIndex: Int?
            var seq: UInt64
            var flags: UInt8
            var payload: [UInt8]
        }
        func view(_ bytes: [UInt8]) throws(MeshWireError) -> Seen? {
            var decoder = MeshFrameDecoder(intern: InternTable(["a"]))
            decoder.append(bytes)
            return try decoder.nextData().map {
                Seen(origin: $0.origin(interned: decoder.intern), internIndex: $0.internIndex, seq: $0.seq, flags: $0.flags, payload: Array($0.payload))
            }
        }
        let good = MeshFrame.data(MeshData(origin: "a", epoch: 1, seq: 2, flags: 3, payload: [1, 2])).encoded()
        #expect(try view(good) == Seen(origin: "a", internIndex: 0, seq: 2, flags: 3, payload: [1, 2]))
        // Not interned: validated, not interned.
        let other = MeshFrame.data(MeshData(origin: "zz", epoch: 1, seq: 1, payload: [])).encoded()
        #expect(try view(other) == Seen(origin: "zz", internIndex: nil, seq: 1, flags: 0, payload: []))
        var badUTF8 = other
        badUTF8[7] = 0xc3
        badUTF8[8] = 0x28
        #expect(throws: MeshWireError.invalidUTF8(.data)) { try view(badUTF8) }
        var long = good
        long[good.count - 3] = 9
        #expect(throws: MeshWireError.truncated(.data)) { try view(long) }
        var short = good
        short[good.count - 3] = 1
        #expect(throws: MeshWireError.trailingBytes(.data)) { try view(short) }
        var cut = Array(good.prefix(12))
        cut[3] = 8
        #expect(throws: MeshWireError.truncated(.data)) { try view(cut) }
        // Incomplete, or another type: nil, and `next` takes over (with the same errors as ever).
        #expect(try view(Array(good.dropLast())) == nil)
        #expect(try view(MeshFrame.accept.encoded()) == nil)
        #expect(try view([0, 0, 0, 0, 6]) == nil)
        var decoder = MeshFrameDecoder(maxFrameBytes: 10)
        decoder.append(good)
        #expect(try decoder.nextData() == nil)
        #expect(throws: MeshWireError.frameTooLarge(length: good.count - 4, limit: 10)) { try decoder.next() }
    }

    /// The pump's writer for plain DATA frames writes the very bytes `appendData` does.
    @Test func dataFrameTemplateMatchesAppendData() {
        for origin in ["a", "node-7", "ünï", String(repeating: "x", count: 300)] {
            var template = DataFrameTemplate(origin: origin, epoch: 0x0102_0304_0506_0708)
            var fast = [UInt8]()
            var slow = [UInt8]()
            for (seq, flags, payload) in [(UInt64(1), UInt8(0), [UInt8]()), (2, 1, [9]), (.max, 0xff, Array(0..<200))] {
                template.append(seq: seq, flags: flags, payload: payload, into: &fast)
                MeshFrame.appendData(origin: origin, epoch: 0x0102_0304_0506_0708, seq: seq, flags: flags, payload: payload, into: &slow)
            }
            #expect(fast == slow)
        }
    }

    @Test func rejectsOversizedLengthBeforeBuffering() throws {
        var decoder = MeshFrameDecoder(maxFrameBytes: 100)
        decoder.append([0, 0, 0, 101])
        #expect(throws: MeshWireError.frameTooLarge(length: 101, limit: 100)) { try decoder.next() }
        // Stays failed.
        #expect(throws: MeshWireError.frameTooLarge(length: 101, limit: 100)) { try decoder.next() }

        var exact = MeshFrameDecoder(maxFrameBytes: 9)
        exact.append(MeshFrame.heartbeat(nanos: 1).encoded())
        #expect(try exact.next() == .heartbeat(nanos: 1))

        var huge = MeshFrameDecoder()
        huge.append([0xff, 0xff, 0xff, 0xff])
        #expect(throws: MeshWireError.frameTooLarge(length: 0xffff_ffff, limit: 4 << 20)) { try huge.next() }
    }

    @Test func malformedBodies() {
        func decode(_ bytes: [UInt8]) throws(MeshWireError) -> MeshFrame? {
            var decoder = MeshFrameDecoder()
            decoder.append(bytes)
            return try decoder.next()
        }
        #expect(throws: MeshWireError.emptyFrame) { try decode([0, 0, 0, 0]) }
        #expect(throws: MeshWireError.unknownType(99)) { try decode([0, 0, 0, 1, 99]) }
        #expect(throws: MeshWireError.unknownType(0)) { try decode([0, 0, 0, 1, 0]) }
        #expect(throws: MeshWireError.trailingBytes(.accept)) { try decode([0, 0, 0, 2, 3, 0]) }
        #expect(throws: MeshWireError.truncated(.heartbeat)) { try decode([0, 0, 0, 3, 8, 0, 0]) }
        #expect(throws: MeshWireError.badFixedLength(.share)) { try decode([0, 0, 0, 3, 2, 1, 2]) }
        #expect(throws: MeshWireError.badFixedLength(.confirm)) { try decode([0, 0, 0, 3, 12, 1, 2]) }
        // HELLO of this version: nothing may follow the flags byte.
        var hello = MeshFrame.hello(MeshHello(cluster: "c", nodeId: "a", epoch: 1, nonce: nonce)).encoded()
        hello.append(0)
        hello[3] += 1
        #expect(throws: MeshWireError.trailingBytes(.hello)) { try decode(hello) }
        // A string whose length runs past the body.
        #expect(throws: MeshWireError.truncated(.reject)) { try decode([0, 0, 0, 4, 4, 0, 5, 65]) }
        #expect(throws: MeshWireError.invalidUTF8(.reject)) { try decode([0, 0, 0, 5, 4, 0, 2, 0xc3, 0x28]) }
        // RESUME claiming 65535 entries with an empty body must fail, not allocate.
        #expect(throws: MeshWireError.truncated(.resume)) { try decode([0, 0, 0, 3, 5, 0xff, 0xff]) }
        // A LINKS entry ends with the held range (two u64): without it the entry is truncated, and nothing may follow.
        let links = MeshFrame.links([LinkReport(peerId: "a", peerEpoch: 1, up: true, heldEpoch: 1, heldFrom: 5)]).encoded()
        var short = Array(links.dropLast(16))
        short[3] -= 16
        #expect(throws: MeshWireError.truncated(.links)) { try decode(short) }
        var long = links + [0]
        long[3] += 1
        #expect(throws: MeshWireError.trailingBytes(.links)) { try decode(long) }
        #expect(throws: MeshWireError.truncated(.links)) { try decode([0, 0, 0, 3, 10, 0xff, 0xff]) }
        // DATA payload length larger than the body.
        var data = MeshFrame.data(MeshData(origin: "a", epoch: 1, seq: 1, payload: [1, 2])).encoded()
        data[data.count - 3] = 9
        #expect(throws: MeshWireError.truncated(.data)) { try decode(data) }
        // HAS_DESTINATIONS set on a frame without the list: the count eats into the payload length, which runs out.
        var flagged = MeshFrame.data(MeshData(origin: "a", epoch: 1, seq: 1, payload: [])).encoded()
        flagged[24] = MeshData.hasDestinationsFlag
        #expect(throws: MeshWireError.truncated(.data)) { try decode(flagged) }
        // FILTERED_BEFORE set without its part: `from` needs 8 bytes, 4 are there.
        flagged[24] = MeshData.filteredBeforeFlag
        #expect(throws: MeshWireError.truncated(.data)) { try decode(flagged) }
        // A destination id that is not UTF-8.
        let targeted = MeshFrame.data(MeshData(origin: "a", epoch: 1, seq: 1, destinations: ["é"], payload: [])).encoded()
        var broken = targeted
        broken[27] = 0x28  // the first byte of é
        #expect(throws: MeshWireError.invalidUTF8(.data)) { try decode(broken) }
        // A count claiming 255 destinations in a short body fails, it does not allocate.
        var many = targeted
        many[25] = 255
        #expect(throws: MeshWireError.truncated(.data)) { try decode(many) }
    }

    @Test func partialFrameWaitsForMore() throws {
        var decoder = MeshFrameDecoder()
        let bytes = MeshFrame.reject(reason: "bye").encoded()
        decoder.append(bytes[..<3])
        #expect(try decoder.next() == nil)
        decoder.append(bytes[3..<8])
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedCount == 8)
        decoder.append(bytes[8...])
        #expect(try decoder.next() == .reject(reason: "bye"))
        #expect(try decoder.next() == nil)
    }

    @Test func manyFramesThroughOneDecoderCompact() throws {
        var decoder = MeshFrameDecoder()
        var expected = [MeshFrame]()
        var got = [MeshFrame]()
        for round in 0..<200 {
            var chunk = [UInt8]()
            for i in 0..<10 {
                let frame = MeshFrame.data(MeshData(origin: "o", epoch: 1, seq: UInt64(round * 10 + i), payload: [UInt8(i)]))
                expected.append(frame)
                frame.encode(into: &chunk)
            }
            // Leave a partial frame behind every time so the compaction path runs.
            let cut = chunk.count - 7
            decoder.append(chunk[..<cut])
            while let f = try decoder.next() { got.append(f) }
            decoder.append(chunk[cut...])
            while let f = try decoder.next() { got.append(f) }
        }
        #expect(got == expected)
    }
}
