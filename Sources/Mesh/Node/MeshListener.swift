import NetKit

/// A mesh listening socket bound before its ``MeshNode`` exists ("bind first").
///
/// Lets tests bind port 0, learn the port, write it into the ``MeshConfig`` and only then create the
/// nodes; and lets a restarted node in the same process take over the same port. Connections that
/// arrive while no node is attached are closed at once (the peer redials).
///
/// Create and use it on the loop thread of the node that will use it.
public final class MeshListener: @unchecked Sendable {
    public let loop: EventLoop
    private var listener: TCPListener?
    var onAccept: ((TCPConnection) -> Void)?

    /// Binds `host:port` (port 0 = any free port) with SO_REUSEADDR. Loop thread only.
    public init(loop: EventLoop, host: String = "127.0.0.1", port: UInt16 = 0) throws {
        self.loop = loop
        let address = try SocketAddress(host: host, port: port)
        listener = nil
        listener = try TCPListener(loop: loop, address: address) { [weak self] connection in
            guard let self, let onAccept = self.onAccept else {
                connection.abort()
                return
            }
            onAccept(connection)
        }
    }

    /// The bound address (with the real port when 0 was asked for).
    public var localAddress: SocketAddress? { listener?.localAddress }
    public var port: UInt16 { listener?.localAddress.port ?? 0 }

    /// Stops listening. Loop thread only.
    public func close() {
        listener?.close()
        listener = nil
        onAccept = nil
    }
}
