/// One hub's figures at a scrape: what ``MetricsRenderer`` shows under the `hub` label. A plain value.
struct HubStats: Equatable, Sendable {
    /// Connections of one transport and hub protocol.
    struct Connections: Equatable, Sendable {
        /// `WebSockets`, `ServerSentEvents` or `LongPolling` (the names negotiate lists).
        var transport: String
        /// `json` or `messagepack` (the handshake's names).
        var hubProtocol: String
        /// Open now (handshake done, not closed; a stateful-reconnect connection waiting for its client counts).
        var open: Int
        /// Opened since start.
        var opened: UInt64
    }

    var hub: String
    /// Every transport and protocol pair, in a fixed order (zeros included, so the series exist from the start).
    var connections: [Connections]
    var messagesReceived: UInt64
    var messagesSent: UInt64
    var invocations: UInt64
    var invocationErrors: UInt64
}

extension HubEndpoint {
    /// The hub's figures now. Loop thread; O(open connections).
    func stats() -> HubStats {
        var open = [Int](repeating: 0, count: counters.opened.count)
        for connection in active.values {
            open[HubCounters.slot(connection.transport.kind, connection.hubProtocol.kind)] += 1
        }
        var connections: [HubStats.Connections] = []
        for transport in TransportKind.allCases {
            for kind in HubProtocolKind.allCases {
                let slot = HubCounters.slot(transport, kind)
                connections.append(
                    HubStats.Connections(
                        transport: transport.rawValue,
                        hubProtocol: kind == .json ? JSONHubProtocol.name : MessagePackHubProtocol.name,
                        open: open[slot], opened: counters.opened[slot]))
            }
        }
        return HubStats(
            hub: hub.name, connections: connections, messagesReceived: counters.messagesReceived,
            messagesSent: counters.messagesSent &+ router.hub(hub.name).messagesDelivered,
            invocations: counters.invocations, invocationErrors: counters.invocationErrors)
    }
}
