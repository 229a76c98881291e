/// A connection's streams and client results in flight: upload streams by stream id, server→client streams by
/// invocation id, and the server→client invocations waiting for the client's Completion. Confined to the
/// connection's loop; every table is bounded.
struct ConnectionStreams {
    /// Upload streams open at once (their invocation may still wait in the queue).
    static let maxUploads = 32
    /// Server→client streams running at once.
    static let maxOutgoing = 64
    /// Client results awaited at once.
    static let maxClientResults = 256
    /// A stream waits before its next item while the transport has more than this queued.
    static let maxPendingWriteBytes = 256 << 10
    /// How often a stream held back by a full transport looks again.
    static let drainPollNanos: UInt64 = 5_000_000

    struct Outgoing {
        var task: Task<Void, Never>?
        /// The method returned its sequence (the queue moved on).
        var started = false
        var cancelled = false
    }

    var uploads: [String: UploadStream] = [:]
    var outgoing: [String: Outgoing] = [:]
    var clientResults: [String: (ClientResultOutcome) -> Void] = [:]
    var lastClientInvocationId: UInt64 = 0
}
