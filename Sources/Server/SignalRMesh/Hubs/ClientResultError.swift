/// A client result that got no answer: no connection has the id, it disconnected first, its replica can't be
/// reached, or the wait timed out. (An error the client itself answered with is thrown as a ``HubException``.)
public struct ClientResultError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
