/// Why a request could not be parsed. Each case knows the status and the short plain-text body of the
/// error response; after sending it the connection must be closed, since the byte stream can no longer
/// be trusted to be framed correctly.
enum HTTPParseError: Error, Equatable, CustomStringConvertible {
    /// 400. The associated text says what was wrong, e.g. `"malformed request line"`.
    case badRequest(String)
    /// 414: the request line is longer than ``HTTPParserLimits/maxRequestLineBytes``.
    case uriTooLong
    /// 431: the header section (or the chunked trailer section) is too large, or has too many fields.
    case headersTooLarge
    /// 413: the declared or accumulated body is larger than ``HTTPParserLimits/maxBodyBytes``.
    case payloadTooLarge
    /// 501: e.g. a transfer coding other than `chunked`. The text names what is unsupported.
    case notImplemented(String)
    /// 505: a well-formed `HTTP/x.y` version other than 1.0 and 1.1.
    case versionNotSupported

    var status: Int {
        switch self {
        case .badRequest: 400
        case .uriTooLong: 414
        case .headersTooLarge: 431
        case .payloadTooLarge: 413
        case .notImplemented: 501
        case .versionNotSupported: 505
        }
    }

    /// Body text for the error response.
    var message: String {
        switch self {
        case .badRequest(let detail): "Bad Request: \(detail)"
        case .uriTooLong: "URI Too Long"
        case .headersTooLarge: "Request Header Fields Too Large"
        case .payloadTooLarge: "Payload Too Large"
        case .notImplemented(let detail): "Not Implemented: \(detail)"
        case .versionNotSupported: "HTTP Version Not Supported"
        }
    }

    var description: String { "\(status) \(message)" }
}

// MARK: - Request-target decoding
