@testable import SignalRMesh

/// `hub`: the 0x1E record framer, the handshake request and the JSON hub protocol, driven as `SignalRConnection`
/// drives them (handshake first, then one hub message per record until an error or a Close).
///
/// Checks:
/// - the same handshake verdict, messages and error whatever the read boundaries;
/// - every parsed hub message, encoded again, parses to an equal message and encodes to the same bytes;
/// - the handshake answers (`{}` or `{"error":…}`) read back as what was meant.
///
/// Flags: bit 0 = start with the handshake (else the connection is already past it); bit 1 = a 256-byte message
/// limit instead of the default 32 KiB.
enum HubTarget {
    enum Step: Equatable {
        case handshake(HandshakeRequest)
        /// The `{"error":…}` text sent before closing.
        case handshakeRefused(String)
        case message(HubMessage)
        /// A message that doesn't parse: the connection is closed with an error.
        case invalid(String)
        case tooLarge
    }

    static func run(_ input: FuzzInput) {
        let limit = input.flag(1) ? 256 : 32 * 1024
        let steps = expectSameForEveryFeed(input) { drive($0, handshakeFirst: input.flag(0), maxMessageSize: limit) }
        for step in steps {
            switch step {
            case .message(let message): checkRoundTrip(message)
            case .handshakeRefused(let text): checkHandshakeAnswer(text)
            case .handshake: checkHandshakeAnswer(nil)
            default: break
            }
        }
    }

    static func drive(_ chunks: [[UInt8]], handshakeFirst: Bool, maxMessageSize: Int) -> [Step] {
        var framer = RecordSeparatorFramer(maxMessageSize: maxMessageSize)
        var inHandshake = handshakeFirst
        var steps: [Step] = []
        for chunk in chunks {
            framer.append(chunk)
            while true {
                do {
                    if inHandshake {
                        guard let message = try framer.next() else { break }
                        let request: HandshakeRequest
                        do {
                            request = try Handshake.parseRequest(message)
                        } catch {
                            steps.append(.handshakeRefused(Handshake.unexpectedError))
                            return steps
                        }
                        if let refusal = Handshake.validate(request) {
                            steps.append(.handshakeRefused(refusal))
                            return steps
                        }
                        steps.append(.handshake(request))
                        inHandshake = false
                    } else {
                        guard let parsed = try framer.withNext({ bytes in Result { try JSONHubProtocol.parse(bytes) } })
                        else { break }
                        switch parsed {
                        case .success(let message):
                            steps.append(.message(message))
                            if case .close = message { return steps }
                        case .failure(let error):
                            steps.append(.invalid("\(error)"))
                            return steps
                        }
                    }
                } catch {
                    check(error as? FramerError == .messageTooLarge, "framer threw \(error)")
                    steps.append(.tooLarge)
                    return steps
                }
            }
        }
        return steps
    }

    static func checkRoundTrip(_ message: HubMessage) {
        let encoded = JSONHubProtocol.encode(message)
        check(encoded.last == JSONByte.recordSeparator, "encoded message does not end with 0x1E")
        check(encoded.dropLast().firstIndex(of: JSONByte.recordSeparator) == nil, "0x1E inside an encoded message")
        let body = Array(encoded.dropLast())
        do {
            let again = try JSONHubProtocol.parse(body)
            check(again == message, "round trip changed the message:\n  \(message)\n  \(again)")
            check(JSONHubProtocol.encode(again) == encoded, "encoding is not stable for \(message)")
            // What the server writes must be plain JSON too.
            _ = try JSONParser.parse(body)
        } catch {
            fuzzFailure("encoded \(message) does not parse: \(error)\n  \(String(decoding: body, as: UTF8.self))")
        }
    }

    /// `nil` for the success answer, else the error text it carries.
    static func checkHandshakeAnswer(_ text: String?) {
        let answer = text.map { Handshake.errorResponse($0) } ?? Handshake.successResponse
        check(answer.last == JSONByte.recordSeparator, "handshake answer does not end with 0x1E")
        do {
            let read = try answer.dropLast().withUnsafeBytes { try Handshake.parseResponse($0) }
            check(read == text, "handshake answer reads back as \(String(describing: read)), not \(String(describing: text))")
        } catch {
            fuzzFailure("handshake answer does not parse: \(error)")
        }
    }
}
