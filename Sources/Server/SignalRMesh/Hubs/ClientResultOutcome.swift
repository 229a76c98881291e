/// How a client result ended: the client's answer, the client's own error, or a failure on the way (no such
/// connection, it disconnected, its replica is unreachable, a timeout).
enum ClientResultOutcome: Equatable, Sendable {
    case result(JSONValue)
    /// The client completed the invocation with this error.
    case clientError(String)
    /// No answer: why.
    case failed(String)
    /// No answer in time: the wait was given up (thrown as ASP.NET Core's "Invocation canceled by the server.").
    case canceled
}
