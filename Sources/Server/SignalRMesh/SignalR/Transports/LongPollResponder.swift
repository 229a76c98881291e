/// Whoever answers one long poll: the local HTTP connection that carried it, or (later) a peer replica that
/// forwarded it. The transport answers each poll exactly once, unless the responder reported itself gone first.
protocol LongPollResponder: AnyObject {
    /// Sends the answer. `contentType` nil: no `Content-Type` (a 204).
    func respond(status: Int, contentType: String?, body: [UInt8])
    /// Set by the transport when it takes the poll: the responder calls it (once) if the poll can no longer be
    /// answered (its socket closed), so the transport stops waiting and its inactivity clock starts.
    var onGone: (() -> Void)? { get set }
    /// The TCP peer the poll came from, when it came on a local socket (logs only).
    var remoteAddress: SocketAddress? { get }
}

extension LongPollResponder {
    var remoteAddress: SocketAddress? { nil }

    /// Delivers a ``LongPollMachine/Answer`` with the status and content type of signalr-protocol.md 1.6.
    func respond(_ answer: LongPollMachine.Answer) {
        onGone = nil
        switch answer {
        case .started: respond(status: 200, contentType: "application/octet-stream", body: [])
        case .data(let bytes): respond(status: 200, contentType: "application/octet-stream", body: bytes)
        case .timedOut: respond(status: 200, contentType: "text/plain", body: [])
        case .noContent: respond(status: 204, contentType: nil, body: [])
        }
    }
}
