/// One connection as a target (`Clients.Client(id)`, `Clients.Caller`): send to it, or invoke a method on it and
/// await its result (ASP.NET Core's `ISingleClientProxy`). Thread-safe.
public struct SingleClientProxy: Sendable {
    let sender: HubSender
    /// The connection this proxy targets.
    public let connectionId: String

    /// Invokes `method` on the connection without waiting (see ``ClientProxy/send(_:_:)``).
    public func send<each Argument: Encodable>(_ method: String, _ arguments: repeat each Argument) throws {
        try ClientProxy(sender: sender, target: .connections([connectionId])).send(method, repeat each arguments)
    }

    /// Invokes `method` on the connection, wherever its replica is, and returns the client's result decoded as
    /// `Result` (use ``AnyJSON`` to take whatever comes, including a void result, which decodes as `null`).
    ///
    /// The HubException a timeout throws (ASP.NET Core's text for a client result canceled by the server).
    static let canceledText = "Invocation canceled by the server."

    /// A method awaiting its own caller doesn't block that caller's answer: Completions aren't queued behind
    /// invocations.
    ///
    /// - Parameter timeout: how long to wait for the answer (default: ``Hub/clientResultTimeout``, 30 s).
    /// - Throws: ``HubException`` with the client's text when it answers with an error, or with
    ///   "Invocation canceled by the server." after the timeout (as ASP.NET Core); ``ClientResultError`` when no
    ///   connection has the id, it disconnects before answering, or its replica becomes unreachable (reported
    ///   within the mesh's failure-detection time); an error when the result doesn't decode as `Result`, or an
    ///   argument doesn't encode.
    public func invoke<each Argument: Encodable, Result: Decodable>(
        _ method: String, _ arguments: repeat each Argument, returning type: Result.Type = Result.self,
        timeout: Duration? = nil
    ) async throws -> Result {
        var values: [JSONValue] = []
        for argument in repeat each arguments { values.append(try HubArgumentCoding.encode(argument)) }
        let outcome = await sender.invokeClient(
            connectionId: connectionId, target: method, arguments: values, timeout: timeout ?? sender.clientResultTimeout)
        switch outcome {
        case .result(let value): return try HubArgumentCoding.decode(Result.self, from: value)
        case .clientError(let text): throw HubException(text)
        case .failed(let text): throw ClientResultError(text)
        case .canceled: throw HubException(Self.canceledText)
        }
    }
}
