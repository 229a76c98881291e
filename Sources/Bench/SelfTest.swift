/// `Bench selftest`: the load client's parsers checked the way the project checks every incremental parser:
/// the same input split at every byte position, and fed one byte at a time, must give the same output.
/// (Bench has no test target; this keeps the check runnable: `Bench selftest`, exit status 0/1.)
enum SelfTest {
    static func run() -> Bool {
        var failures: [String] = []
        func check(_ ok: Bool, _ what: String) { if !ok { failures.append(what) } }

        // Server frames: a small text, a 16-bit-length text, a fragmented text with a ping in between,
        // a 64-bit-length binary, a close.
        var stream = [UInt8]()
        func frame(_ fin: Bool, _ op: UInt8, _ payload: [UInt8]) {
            stream.append((fin ? 0x80 : 0) | op)
            if payload.count <= 125 {
                stream.append(UInt8(payload.count))
            } else if payload.count <= 0xFFFF {
                stream += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            } else {
                stream.append(127)
                for shift in stride(from: 56, through: 0, by: -8) { stream.append(UInt8(truncatingIfNeeded: payload.count >> shift)) }
            }
            stream += payload
        }
        let small = Array("{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[\"u\",\"m\"]}\u{1e}".utf8)
        let medium = [UInt8](repeating: 0x41, count: 300)
        let big = [UInt8](repeating: 0x07, count: 70_000)
        frame(true, 1, small)
        frame(true, 1, medium)
        frame(false, 1, Array("{\"a\":".utf8))
        frame(true, 9, [1, 2, 3])
        frame(true, 0, Array("1}\u{1e}".utf8))
        frame(true, 2, big)
        frame(true, 8, [0x03, 0xE8])
        let expected: [ServerFrameEvent] = [
            .text(small), .text(medium), .ping([1, 2, 3]), .text(Array("{\"a\":1}\u{1e}".utf8)), .binary(big), .close(code: 1000),
        ]
        // `borrowing`: through the borrowed-view path (what HubClient uses), whole unfragmented texts as views.
        func parseAll(_ pieces: [ArraySlice<UInt8>], borrowing: Bool = false) -> [ServerFrameEvent]? {
            var parser = ServerFrameParser()
            var out: [ServerFrameEvent] = []
            for piece in pieces {
                parser.append(Array(piece))
                do {
                    if borrowing {
                        while let e = try parser.next(borrowingText: { out.append(.text(Array($0))) }) { out.append(e) }
                    } else {
                        while let e = try parser.next() { out.append(e) }
                    }
                } catch {
                    return nil
                }
            }
            return out
        }
        check(parseAll([stream[...]]) == expected, "frames: whole input")
        // Every split point (the 70 KB frame makes this a few seconds in debug; fine in release).
        let headLength = stream.count - big.count - 14
        for cut in stride(from: 0, through: stream.count, by: 1) where cut < headLength + 64 || cut > stream.count - 64 || cut % 997 == 0 {
            if parseAll([stream[..<cut], stream[cut...]]) != expected { check(false, "frames: split at \(cut)"); break }
        }
        let prefixOnly = Array(stream[..<headLength])
        check(
            parseAll(prefixOnly.map { [$0][...] }) == Array(expected.prefix(4)), "frames: one byte at a time")
        // Rules a client must enforce.
        var masked = ServerFrameParser()
        masked.append([0x81, 0x81, 1, 2, 3, 4, 0x41])
        check((try? masked.next()) == nil, "frames: a masked server frame is refused")
        var badControl = ServerFrameParser()
        badControl.append([0x09, 0x00])
        check((try? badControl.next()) == nil, "frames: a fragmented ping is refused")

        // HTTP response head.
        let response = Array(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc=\r\n\r\n".utf8)
            + [0x81, 0x03, 0x7B, 0x7D, 0x1E]
        for cut in 0...response.count {
            let complete = cut >= response.count - 5
            do {
                let head = try HTTPResponseHead.parse(Array(response[..<cut]))
                if complete {
                    check(
                        head?.status == 101 && head?.headers["sec-websocket-accept"] == "abc="
                            && head?.length == response.count - 5, "http: cut \(cut)")
                } else {
                    check(head == nil, "http: incomplete head at \(cut) must wait")
                }
            } catch {
                check(false, "http: cut \(cut) threw \(error)")
            }
        }

        // The borrowed-view path (what HubClient uses) must see what the copying path sees, at every split: the
        // whole unfragmented texts as views, everything else (fragmented text, ping, binary, close) as events.
        for cut in stride(from: 0, through: stream.count, by: 1) where cut < headLength + 64 || cut > stream.count - 64 || cut % 997 == 0 {
            if parseAll([stream[..<cut], stream[cut...]], borrowing: true) != expected { check(false, "frames (borrowed): split at \(cut)"); break }
        }
        check(
            parseAll(prefixOnly.map { [$0][...] }, borrowing: true) == Array(expected.prefix(4)),
            "frames (borrowed): one byte at a time")

        // Stamps: latency (L), group (M) and send-to-all (A), found past other `|` and refused when cut short.
        let record = Array("{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[\"bench\",\"L|0000000042|00000000001234567890|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]}".utf8)
        let latency = (UInt8(ascii: "L"), UInt8(ascii: "L"))
        let parsed = BenchStamp.find(in: record[...], kinds: latency)
        check(parsed?.id == 42 && parsed?.sentAt == 1_234_567_890, "latency stamp")
        check(BenchStamp.find(in: Array("{\"type\":6}".utf8)[...], kinds: latency) == nil, "latency stamp: ping ignored")
        let group = Array("{\"arguments\":[\"a|b\",\"x|\",\"A|0000000007|00000000000000000099|\"]}".utf8)
        let groupKinds = (UInt8(ascii: "M"), UInt8(ascii: "A"))
        let found = BenchStamp.find(in: group[...], kinds: groupKinds)
        check(found?.kind == UInt8(ascii: "A") && found?.id == 7 && found?.sentAt == 99, "group stamp after other bars")
        check(BenchStamp.find(in: group[...], kinds: latency) == nil, "stamp of another kind ignored")
        let stampEnd = record.firstIndex(of: UInt8(ascii: "x"))!
        for cut in 0..<stampEnd {
            if BenchStamp.find(in: record[..<cut], kinds: latency) != nil { check(false, "stamp cut at \(cut) must not parse"); break }
        }
        check(BenchStamp.find(in: Array("\"L|00000000x2|00000000001234567890|".utf8)[...], kinds: latency) == nil, "stamp: bad digit")

        // URLs and records.
        check((try? HubURL(parsing: "http://localhost:5001/chatHub/"))?.description == "http://127.0.0.1:5001/chatHub", "url")
        check((try? HubURL(parsing: "https://x:1/h")) == nil, "url: https refused")
        var records: [String] = []
        forEachRecord(Array("{}\u{1e}{\"type\":6}\u{1e}".utf8)) { records.append(String(decoding: $0, as: UTF8.self)) }
        check(records == ["{}", "{\"type\":6}"], "records")

        if failures.isEmpty {
            print("selftest: ok")
            return true
        }
        for f in failures { print("selftest FAILED: \(f)") }
        return false
    }
}
