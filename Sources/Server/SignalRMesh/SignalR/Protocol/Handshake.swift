// The hub handshake (HubProtocol.md "Handshake"): always JSON + 0x1E, whatever hub protocol is chosen.

/// The client's first message: `{"protocol":"json","version":1}`.
struct HandshakeRequest: Equatable, Sendable {
    var protocolName: String
    var version: Int
}

/// Parsing and validating the handshake request, and the bytes of the answer.
enum Handshake {
    /// Sent when the handshake times out or its message is too large.
    static let canceledError = "Handshake was canceled."
    /// Sent when the request cannot be read (not JSON, missing `protocol`/`version`, …).
    static let unexpectedError = "An unexpected error occurred during connection handshake."

    /// `{}` + 0x1E.
    static let successResponse: [UInt8] = [JSONByte.openBrace, JSONByte.closeBrace, JSONByte.recordSeparator]

    /// `{"error":"…"}` + 0x1E.
    static func errorResponse(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        JSONWriter.appendASCII("{\"error\":", to: &out)
        JSONWriter.writeString(text, into: &out)
        out.append(JSONByte.closeBrace)
        out.append(JSONByte.recordSeparator)
        return out
    }

    /// Reads one handshake request (without its 0x1E). Needs a string `protocol` and an integer `version`;
    /// other members are ignored, member order is free.
    /// - Throws: ``HubProtocolError`` (answer with ``unexpectedError``).
    static func parseRequest(_ message: UnsafeRawBufferPointer) throws -> HandshakeRequest {
        var scanner = JSONScanner(message)
        var protocolName: String?
        var version: Int?
        do {
            scanner.skipWhitespace()
            guard scanner.current == JSONByte.openBrace else {
                throw HubProtocolError.invalidJSON("the handshake request must be a JSON object")
            }
            try scanner.forEachMember { s, key in
                switch s.string(key) {
                case "protocol":
                    guard s.current == JSONByte.quote else { throw HubProtocolError.invalidField("protocol") }
                    protocolName = try s.parseString()
                case "version":
                    guard let v = try s.parseValue().intValue else { throw HubProtocolError.invalidField("version") }
                    version = v
                default:
                    try s.skipValue()
                }
            }
            try scanner.expectEnd()
        } catch let error as JSONError {
            throw HubProtocolError.invalidJSON(error.description)
        }
        guard let protocolName else { throw HubProtocolError.missingField("protocol") }
        guard let version else { throw HubProtocolError.missingField("version") }
        return HandshakeRequest(protocolName: protocolName, version: version)
    }

    static func parseRequest(_ message: [UInt8]) throws -> HandshakeRequest {
        try message.withUnsafeBytes { try parseRequest($0) }
    }

    /// Checks a request against what the server and the current transport support, in the order ASP.NET Core
    /// does (protocol, then version, then transfer format).
    /// - Parameters:
    ///   - supportedProtocols: protocol name → accepted versions. Names match case-insensitively, as in
    ///     ASP.NET Core. The JS and .NET clients send version 1, or 2 when stateful reconnect was negotiated;
    ///     signalrcore sends 0. The default is the json protocol's (every version up to 2).
    ///   - transferFormatText: true when the current transport carries only text (Server-Sent Events), which
    ///     rules out binary protocols such as `messagepack`. Irrelevant for `json`.
    /// - Returns: nil when accepted, else the exact error text for ``errorResponse(_:)``.
    static func validate(
        _ request: HandshakeRequest, supportedProtocols: [String: ClosedRange<Int>] = [JSONHubProtocol.name: JSONHubProtocol().versions],
        transferFormatText: Bool = true
    ) -> String? {
        let requested = request.protocolName.lowercased()
        guard let versions = supportedProtocols.first(where: { $0.key.lowercased() == requested })?.value else {
            return "The protocol '\(request.protocolName)' is not supported."
        }
        guard versions.contains(request.version) else {
            return "The server does not support version \(request.version) of the '\(request.protocolName)' protocol."
        }
        let format = transferFormat(ofProtocol: request.protocolName)
        if transferFormatText && format != "Text" {
            return "Cannot use the '\(request.protocolName)' protocol on the current transport. The transport does not support '\(format)' transfer format."
        }
        return nil
    }

    /// The transfer format a hub protocol needs: "Text" for json, "Binary" for everything else (messagepack).
    static func transferFormat(ofProtocol name: String) -> String {
        name.lowercased() == JSONHubProtocol.name ? "Text" : "Binary"
    }

    /// Client side (load generator, tests): reads the server's answer (without its 0x1E).
    /// - Returns: nil for success (`{}`), else the `error` text.
    /// - Throws: ``HubProtocolError`` when the answer is not a JSON object.
    static func parseResponse(_ message: UnsafeRawBufferPointer) throws -> String? {
        let value: JSONValue
        do { value = try JSONParser.parse(message) } catch let error as JSONError {
            throw HubProtocolError.invalidJSON(error.description)
        }
        guard case .object = value else { throw HubProtocolError.invalidJSON("the handshake response must be an object") }
        guard let error = value["error"] else { return nil }
        guard case .string(let text) = error else { throw HubProtocolError.invalidField("error") }
        return text
    }
}
