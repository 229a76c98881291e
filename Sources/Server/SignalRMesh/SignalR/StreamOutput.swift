import NetKit

/// A running server→client stream's way back to its connection, from the stream's task: each call hops onto the
/// connection's loop. If the connection is gone, `emit` says stop.
final class StreamOutput: @unchecked Sendable {
    let invocationId: String
    private let loop: EventLoop
    /// Only read on the loop.
    private weak var connection: SignalRConnection?

    init(invocationId: String, connection: SignalRConnection) {
        self.invocationId = invocationId
        self.loop = connection.loop
        self.connection = connection
    }

    /// The method returned its sequence: the connection's next invocation may run.
    func started() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                connection?.outgoingStreamStarted(invocationId)
                done.resume()
            }
        }
    }

    /// Sends one item, then waits until the transport has room for more. False: stop (cancelled, or the
    /// connection closed).
    func emit(_ item: JSONValue) async -> Bool {
        if Task.isCancelled { return false }
        return await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            loop.execute { [self] in
                guard let connection else { return done.resume(returning: false) }
                connection.sendStreamItem(invocationId, item) { done.resume(returning: $0) }
            }
        }
    }
}
