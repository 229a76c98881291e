/// Hands one transport's events to a stateful-reconnect connection, whose transport can be replaced.
///
/// The connection holds the attachment of its current transport; the transport holds it weakly (as it does any
/// handler). When the connection drops it (the transport died, or a new WebSocket took over), late events of the
/// old transport go nowhere instead of reaching the connection as if they came from the new one.
final class TransportAttachment: HubTransportHandler {
    private weak var connection: SignalRConnection?

    init(_ connection: SignalRConnection) {
        self.connection = connection
    }

    func transportReceived(_ bytes: UnsafeRawBufferPointer) { connection?.transportReceived(bytes) }

    func transportActivity() { connection?.transportActivity() }

    func transportClosed() { connection?.transportClosed() }
}
