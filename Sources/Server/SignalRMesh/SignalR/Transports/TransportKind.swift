/// The three SignalR transports, with the names negotiate lists.
enum TransportKind: String, Sendable, CaseIterable {
    case webSockets = "WebSockets"
    case serverSentEvents = "ServerSentEvents"
    case longPolling = "LongPolling"
}
