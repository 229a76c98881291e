/// One replica: its id, the address clients use, and the address of its mesh listener.
public struct Replica: Sendable, Equatable {
    public var id: String
    public var http: HostPort
    public var mesh: HostPort

    public init(id: String, http: HostPort, mesh: HostPort) {
        self.id = id
        self.http = http
        self.mesh = mesh
    }
}
