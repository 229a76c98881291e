/// The connection ended because of an error (passed to ``Hub/onDisconnected(_:)``).
public struct ConnectionClosedError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
