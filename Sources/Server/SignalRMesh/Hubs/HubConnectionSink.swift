import NetKit

/// A connection as the routing layer sees it: an id, a user, and a way to queue a serialized message.
/// ``SignalRConnection`` is one; tests use their own.
protocol HubConnectionSink: AnyObject {
    var connectionId: String { get }
    /// Queues a hub message (shared bytes: the same buffer goes to every recipient).
    func sendMessage(_ message: OutgoingMessage)
    /// The socket to which a broadcast's WebSocket frame in `kind` can go as is, in a ``SharedOutput`` pass
    /// (what `sendMessage` would write, with nothing to do per message); nil: broadcasts go through `sendMessage`.
    var sharedFrameSocket: (socket: TCPConnection, kind: HubProtocolKind)? { get }
    /// Invokes `target` on the client and reports how it answered, once. Returns a canceller that forgets the
    /// wait (after a timeout).
    func invokeClient(
        _ target: String, arguments: [JSONValue], completion: @escaping (ClientResultOutcome) -> Void
    ) -> () -> Void
}

extension HubConnectionSink {
    var sharedFrameSocket: (socket: TCPConnection, kind: HubProtocolKind)? { nil }

    /// Sinks that can't be asked anything fail at once.
    func invokeClient(
        _ target: String, arguments: [JSONValue], completion: @escaping (ClientResultOutcome) -> Void
    ) -> () -> Void {
        completion(.failed("Connection '\(connectionId)' does not take client results."))
        return {}
    }
}
