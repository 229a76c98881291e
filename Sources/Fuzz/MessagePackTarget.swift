@testable import SignalRMesh

/// `msgpack`: the MessagePack hub protocol: `VarIntLengthFramer` + `MessagePackHubProtocol.parse` as a connection
/// would drive them (one message per frame until an error or a Close; unknown message types are skipped), and the
/// msgpack ⇄ `JSONValue` mapping on the payload as one bare value.
///
/// Checks:
/// - the same messages/error for every split of the input, and never more than one partial message (≤ 5 prefix
///   bytes + the limit) left buffered after draining;
/// - every parsed message, encoded again, frames to exactly one body that parses to an equal message and encodes
///   to the same bytes; the same message through the JSON hub protocol comes back equal (the mapping only
///   produces valid JSON within the JSON depth limit);
/// - the payload as one bare value: `skipValue` accepts whatever `MessagePackJSON` reads; a value read writes
///   back to MessagePack that reads to the same value and writes the same bytes; its JSON text parses to it.
///
/// Flags: bit 0 = a 256-byte message limit instead of 32 KiB; bit 1 = nesting limit 4 instead of 64.
enum MessagePackTarget {
    enum Step: Equatable {
        case message(HubMessage)
        /// A message type other than 1–9 (the connection may skip it).
        case unknownType(Int)
        /// A body that doesn't parse: the connection closes with an error.
        case invalid(String)
        /// The framer failed (message too large or a bad length prefix).
        case framing(String)
    }

    static func run(_ input: FuzzInput) {
        let limit = input.flag(0) ? 256 : 32 * 1024
        let maxDepth = input.flag(1) ? 4 : 64
        let steps = expectSameForEveryFeed(input) { drive($0, maxMessageSize: limit, maxDepth: maxDepth) }
        for case .message(let message) in steps { checkRoundTrip(message, maxDepth: maxDepth) }
        if let message = try? MessagePackHubProtocol.parse(input.payload, maxDepth: maxDepth) {
            checkRoundTrip(message, maxDepth: maxDepth)
        }
        checkValue(input.payload, maxDepth: maxDepth)
    }

    static func drive(_ chunks: [[UInt8]], maxMessageSize: Int, maxDepth: Int) -> [Step] {
        var framer = VarIntLengthFramer(maxMessageSize: maxMessageSize)
        var steps: [Step] = []
        for chunk in chunks {
            framer.append(chunk)
            while true {
                let parsed: Result<HubMessage, any Error>?
                do {
                    parsed = try framer.withNext { body in
                        Result { try MessagePackHubProtocol.parse(body, maxDepth: maxDepth) }
                    }
                } catch {
                    check(
                        error as? FramerError == .messageTooLarge || error as? LengthPrefixError == .invalidLengthPrefix,
                        "framer threw \(error)")
                    check(framer.bufferedCount == 0, "a failed framer keeps \(framer.bufferedCount) bytes")
                    steps.append(.framing("\(error)"))
                    return steps
                }
                guard let parsed else { break }
                switch parsed {
                case .success(let message):
                    steps.append(.message(message))
                    if case .close = message { return steps }
                case .failure(HubProtocolError.unknownType(let type)):
                    steps.append(.unknownType(type))
                case .failure(let error):
                    check(error is HubProtocolError || error is MessagePackError, "parse threw \(error)")
                    steps.append(.invalid("\(error)"))
                    return steps
                }
            }
            // Drained: what is left is at most one incomplete message.
            check(framer.bufferedCount <= 5 + maxMessageSize, "\(framer.bufferedCount) bytes left buffered")
        }
        return steps
    }

    static func checkRoundTrip(_ message: HubMessage, maxDepth: Int) {
        let encoded = MessagePackHubProtocol.encode(message)
        var framer = VarIntLengthFramer(maxMessageSize: 0)
        framer.append(encoded)
        let body: [UInt8]
        do {
            guard let b = try framer.next() else { fuzzFailure("encoded \(message) is not one whole frame") }
            body = b
        } catch {
            fuzzFailure("encoded \(message) does not frame: \(error)")
        }
        check(framer.bufferedCount == 0, "encoded \(message) frames with \(framer.bufferedCount) bytes left")
        if case .ping = message { check(body == [0x91, 0x06], "Ping encodes as \(body)") }
        do {
            let again = try MessagePackHubProtocol.parse(body, maxDepth: maxDepth)
            check(again == message, "round trip changed the message:\n  \(message)\n  \(again)")
            check(MessagePackHubProtocol.encode(again) == encoded, "encoding is not stable for \(message)")
        } catch {
            fuzzFailure("encoded \(message) does not parse: \(error)\n  \(body)")
        }
        // The same message in the JSON protocol (what a JSON client would get).
        let json = JSONHubProtocol.encode(message)
        do {
            let viaJSON = try JSONHubProtocol.parse(Array(json.dropLast()))
            check(viaJSON == message, "through JSON:\n  \(message)\n  \(viaJSON)")
        } catch {
            fuzzFailure("\(message) as JSON does not parse: \(error)\n  \(String(decoding: json, as: UTF8.self))")
        }
    }

    static func checkValue(_ bytes: [UInt8], maxDepth: Int) {
        let read = Result { try MessagePackJSON.parse(bytes, maxDepth: maxDepth) }
        let skipped = bytes.withUnsafeBytes { raw -> Result<Void, any Error> in
            var reader = MessagePackReader(raw, maxDepth: maxDepth)
            return Result {
                try reader.skipValue()
                try reader.expectEnd()
            }
        }
        guard case .success(let value) = read else {
            if case .failure(let error) = read { check(error is MessagePackError, "MessagePackJSON threw \(error)") }
            return
        }
        if case .failure(let error) = skipped { fuzzFailure("skipValue refused what readValue read: \(error)") }
        var out: [UInt8] = []
        MessagePackJSON.write(value, into: &out)
        do {
            let again = try MessagePackJSON.parse(out, maxDepth: maxDepth)
            check(again == value, "msgpack round trip changed the value:\n  \(value)\n  \(again)")
            var second: [UInt8] = []
            MessagePackJSON.write(again, into: &second)
            check(second == out, "writing is not stable for \(value)")
        } catch {
            fuzzFailure("written value does not read: \(error)\n  \(value)")
        }
        do {
            let fromJSON = try JSONParser.parse(Array(value.description.utf8), maxDepth: maxDepth)
            check(fromJSON == value, "JSON text reads differently:\n  \(value)\n  \(fromJSON)")
        } catch {
            fuzzFailure("the value's JSON text does not parse: \(error)\n  \(value)")
        }
    }
}
