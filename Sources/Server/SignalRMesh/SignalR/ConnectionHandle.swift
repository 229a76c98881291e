import NetKit

/// A connection as seen from outside its loop (hub methods running as tasks): made once per connection, so a
/// ``HubCaller`` costs no allocation. Only touches the connection back on its loop.
final class ConnectionHandle: @unchecked Sendable {
    private weak var connection: SignalRConnection?
    private let loop: EventLoop

    init(_ connection: SignalRConnection, loop: EventLoop) {
        self.connection = connection
        self.loop = loop
    }

    func abort() {
        loop.execute { [self] in connection?.close(error: nil, allowReconnect: false, reason: "aborted by the hub") }
    }
}
