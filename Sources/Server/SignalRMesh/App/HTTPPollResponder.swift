/// Answers a long poll that arrived on a local HTTP connection: the deferred response of that connection, with
/// the no-cache headers of signalr-protocol.md 1.6 and the request's CORS headers.
final class HTTPPollResponder: LongPollResponder {
    private weak var http: HTTPConnection?
    private let request: HTTPRequest
    private let extraHeaders: [(String, String)]
    private var answered = false
    var onGone: (() -> Void)?
    var remoteAddress: SocketAddress? { http?.conn.remoteAddress }

    init(http: HTTPConnection, request: HTTPRequest, extraHeaders: [(String, String)]) {
        self.http = http
        // Only what the answer needs: the body of a GET is nothing to keep.
        self.request = HTTPRequest(method: request.method, target: "", version: request.version, headers: request.headers)
        self.extraHeaders = extraHeaders
    }

    static let noCacheHeaders: [(String, String)] = [
        ("Cache-Control", "no-cache, no-store"), ("Pragma", "no-cache"), ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ]

    func respond(status: Int, contentType: String?, body: [UInt8]) {
        guard !answered else { return }
        answered = true
        onGone = nil
        var r = HTTPResponse(status: status, body: body)
        if let contentType { r.headers.add("Content-Type", contentType) }
        for (k, v) in Self.noCacheHeaders { r.headers.add(k, v) }
        for (k, v) in extraHeaders { r.headers.add(k, v) }
        http?.finishDeferred(r, for: request)
    }

    /// The HTTP connection closed before the answer.
    func connectionGone() {
        guard !answered else { return }
        answered = true
        let gone = onGone
        onGone = nil
        gone?()
    }
}
