/// What one hub endpoint counts for `/metrics`, over the replica's lifetime: plain integers bumped on the loop
/// (no locks, no lookups per message). Broadcast deliveries are counted where they fan out
/// (``LocalHubConnections/messagesDelivered``), once per fan-out rather than once per recipient.
struct HubCounters {
    /// Hub messages parsed from clients (pings included; the handshake is not a hub message).
    var messagesReceived: UInt64 = 0
    /// Hub messages a connection wrote for itself: completions, stream items, client-result invocations, acks,
    /// pings and closes.
    var messagesSent: UInt64 = 0
    /// Invocation and StreamInvocation messages received.
    var invocations: UInt64 = 0
    /// Of those, the ones answered with an error (unknown method, bad arguments, refused, the method threw), or
    /// that would have been had the caller waited for an answer.
    var invocationErrors: UInt64 = 0
    /// Connections whose handshake succeeded, by ``slot(_:_:)``.
    var opened = [UInt64](repeating: 0, count: TransportKind.allCases.count * HubProtocolKind.allCases.count)

    /// The index of a transport and hub protocol pair in ``opened``.
    static func slot(_ transport: TransportKind, _ hubProtocol: HubProtocolKind) -> Int {
        TransportKind.allCases.firstIndex(of: transport)! * HubProtocolKind.allCases.count + hubProtocol.rawValue
    }
}
