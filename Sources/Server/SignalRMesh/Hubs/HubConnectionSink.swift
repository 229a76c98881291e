/// A connection as the routing layer sees it: an id, a user, and a way to queue a serialized message.
/// ``SignalRConnection`` is one; tests use their own.
protocol HubConnectionSink: AnyObject {
    var connectionId: String { get }
    /// Queues a hub message (shared bytes: the same buffer goes to every recipient).
    func sendMessage(_ message: OutgoingMessage)
}
