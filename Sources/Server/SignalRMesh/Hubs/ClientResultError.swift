/// A client result that got no answer: no connection has the id, it disconnected first, or its replica can't be
/// reached (ASP.NET Core throws an `IOException` there, so callers of the method see the generic error text).
/// An error the client answered with, and a timeout, are thrown as a ``HubException``.
public struct ClientResultError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
