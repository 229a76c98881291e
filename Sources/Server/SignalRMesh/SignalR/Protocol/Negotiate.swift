// POST [hub]/negotiate: version selection and response bodies (TransportProtocols.md, HttpConnectionDispatcher).

/// A negotiate failure. It goes back as HTTP **200** with `{"error":"…"}` (``NegotiateResponse/error(_:)``):
/// that is what the clients look for.
struct NegotiateError: Error, Equatable, Sendable {
    var message: String

    static let nonIntegerVersion = NegotiateError(message: "The client requested a non-integer protocol version.")

    static func unsupportedVersion(_ version: Int) -> NegotiateError {
        NegotiateError(message: "The client requested version '\(version)', but the server does not support this version.")
    }
}

/// Which negotiate version to answer with.
enum NegotiateVersion {
    /// The highest version this server speaks (1: separate connectionId and connectionToken).
    static let maximum = 1

    /// Resolves the `negotiateVersion` query value.
    ///
    /// No value → 0 (signalrcore and pysignalr send none and then connect with `id=<connectionId>`). Not an
    /// integer (including empty, or outside Int32 like .NET's `int.TryParse`) → error. Below `minimum` →
    /// error. Above ``maximum`` → ``maximum``.
    /// - Parameter minimum: ASP.NET Core's `MinimumProtocolVersion` (default 0).
    static func resolve(_ raw: String?, minimum: Int = 0) -> Result<Int, NegotiateError> {
        guard let raw else { return minimum <= 0 ? .success(0) : .failure(.unsupportedVersion(0)) }
        // int.TryParse (NumberStyles.Integer) allows surrounding whitespace and a sign.
        let trimmed = raw.trimmingASCIIWhitespace()
        guard let value = Int32(trimmed) else { return .failure(.nonIntegerVersion) }
        let version = Int(value)
        if version < minimum { return .failure(.unsupportedVersion(version)) }
        return .success(min(version, maximum))
    }
}

/// One entry of `availableTransports`, e.g. `("WebSockets", ["Text", "Binary"])`.
struct TransportDescription: Equatable, Sendable {
    var name: String
    var formats: [String]

    static let webSockets = TransportDescription(name: "WebSockets", formats: ["Text", "Binary"])
    /// SSE can only carry text.
    static let serverSentEvents = TransportDescription(name: "ServerSentEvents", formats: ["Text"])
    static let longPolling = TransportDescription(name: "LongPolling", formats: ["Text", "Binary"])
}

/// Negotiate response bodies (`application/json`).
enum NegotiateResponse {
    /// The success body.
    ///
    /// v1: `{"negotiateVersion":1,"connectionId":…,"connectionToken":…,"availableTransports":[…]}`;
    /// v0: the same without `connectionToken` (the connectionId is then also the `id` to connect with).
    /// Never contains `ProtocolVersion`: the .NET client takes that for a legacy ASP.NET SignalR server.
    /// - Parameter useStatefulReconnect: adds `"useStatefulReconnect":true`; pass true only when the server
    ///   allows it AND the client asked (the JS client rejects an unrequested one).
    static func body(
        version: Int, connectionId: String, connectionToken: String, transports: [TransportDescription],
        useStatefulReconnect: Bool = false
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        JSONWriter.appendASCII("{\"negotiateVersion\":", to: &out)
        JSONWriter.writeInteger(Int64(version), into: &out)
        JSONWriter.appendASCII(",\"connectionId\":", to: &out)
        JSONWriter.writeString(connectionId, into: &out)
        if version >= 1 {
            JSONWriter.appendASCII(",\"connectionToken\":", to: &out)
            JSONWriter.writeString(connectionToken, into: &out)
        }
        JSONWriter.appendASCII(",\"availableTransports\":[", to: &out)
        for (i, transport) in transports.enumerated() {
            if i > 0 { out.append(JSONByte.comma) }
            JSONWriter.appendASCII("{\"transport\":", to: &out)
            JSONWriter.writeString(transport.name, into: &out)
            JSONWriter.appendASCII(",\"transferFormats\":[", to: &out)
            for (j, format) in transport.formats.enumerated() {
                if j > 0 { out.append(JSONByte.comma) }
                JSONWriter.writeString(format, into: &out)
            }
            JSONWriter.appendASCII("]}", to: &out)
        }
        out.append(JSONByte.closeBracket)
        if useStatefulReconnect { JSONWriter.appendASCII(",\"useStatefulReconnect\":true", to: &out) }
        out.append(JSONByte.closeBrace)
        return out
    }

    /// `{"error":"…"}` (sent with HTTP 200).
    static func error(_ message: String) -> [UInt8] {
        var out: [UInt8] = []
        JSONWriter.appendASCII("{\"error\":", to: &out)
        JSONWriter.writeString(message, into: &out)
        out.append(JSONByte.closeBrace)
        return out
    }
}

extension String {
    /// Drops leading and trailing spaces, tabs, CR and LF (no Foundation needed).
    func trimmingASCIIWhitespace() -> Substring {
        // Work on scalars: "\r\n" is a single Character, so a Character test would miss it.
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return self[first...last]
    }
}
