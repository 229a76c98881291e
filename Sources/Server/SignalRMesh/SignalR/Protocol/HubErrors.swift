// Error texts the server puts on the wire, copied character for character from what ASP.NET Core SignalR sends
// (ErrorMessageHelper / DefaultHubDispatcher / HubConnectionHandler), because clients and tests compare them.
// Handshake texts live in Handshake.swift, negotiate texts in Negotiate.swift.

/// Wire error texts for Completion and Close messages.
enum HubErrors {
    // MARK: Completion errors for invocations

    /// The target is not a hub method (the .NET binder throws `HubException("Method does not exist.")`).
    static func unknownMethod(_ method: String) -> String {
        "Failed to invoke '\(method)' due to an error on the server. HubException: Method does not exist."
    }

    /// The arguments could not be bound: wrong count or wrong types.
    static func invocationFailed(_ method: String) -> String {
        "Failed to invoke '\(method)' due to an error on the server."
    }

    /// Binding failed and detailed errors are on: `detail` is "`<ExceptionType>: <message>`".
    static func invocationFailed(_ method: String, detail: String) -> String {
        "Failed to invoke '\(method)' due to an error on the server. \(detail)"
    }

    /// The hub method threw a `HubException`: its message always reaches the client.
    static func hubException(_ method: String, _ message: String) -> String {
        "An unexpected error occurred invoking '\(method)' on the server. HubException: \(message)"
    }

    /// The hub method threw anything else (detailed errors off).
    static func unexpected(_ method: String) -> String {
        "An unexpected error occurred invoking '\(method)' on the server."
    }

    /// The hub method threw and detailed errors are on: `detail` is "`<ExceptionType>: <message>`".
    static func unexpected(_ method: String, detail: String) -> String {
        "An unexpected error occurred invoking '\(method)' on the server. \(detail)"
    }

    /// The caller lacks authorization for the method (no trailing period, as in .NET).
    static func unauthorized(_ method: String) -> String {
        "Failed to invoke '\(method)' because user is unauthorized"
    }

    /// A streaming method called with a plain Invocation.
    static func streamingMethodCalledWithInvoke(_ method: String) -> String {
        "The client attempted to invoke the streaming '\(method)' method with a non-streaming invocation."
    }

    /// A non-streaming method called with a StreamInvocation.
    static func nonStreamingMethodCalledWithStream(_ method: String) -> String {
        "The client attempted to invoke the non-streaming '\(method)' method with a streaming invocation."
    }

    /// The `HubException` message for a `streamIds` count that does not match the method's stream
    /// parameters; the Completion error is `hubException(method, streamCountMismatch(…))`.
    static func streamCountMismatch(clientStreams: Int, methodStreams: Int) -> String {
        "Client sent \(clientStreams) stream(s), Hub method expects \(methodStreams)."
    }

    /// A StreamInvocation reused the id of a stream that is still running.
    static func invocationIdInUse(_ invocationId: String) -> String {
        "Invocation ID '\(invocationId)' is already in use."
    }

    /// A server→client stream failed after it started (detailed errors off; a HubException appends
    /// " HubException: <message>").
    static let streamingFailed = "An error occurred on the server while streaming results."

    /// A streaming method failed after it started and threw a `HubException`.
    static func streamingFailed(hubException message: String) -> String {
        "An error occurred on the server while streaming results. HubException: \(message)"
    }

    /// Client results: the connection that was asked went away before answering.
    static let connectionDisconnected = "Connection disconnected."

    /// Client results: the connection that was asked went away before answering (ASP.NET Core's
    /// `DefaultHubLifetimeManager` text).
    static func connectionDisconnected(_ connectionId: String) -> String {
        "Connection '\(connectionId)' disconnected."
    }

    /// Client results (and group changes): no connection has this id.
    static func connectionDoesNotExist(_ connectionId: String) -> String {
        "Connection '\(connectionId)' does not exist."
    }

    // MARK: Close errors

    /// The `error` of the Close message sent when a connection ends because of an error (with
    /// `allowReconnect: true`), including a message over the size limit.
    static let closedWithError = "Connection closed with an error."

    /// Detailed-errors form of ``closedWithError``: `detail` is "`<ExceptionType>: <message>`".
    static func closedWithError(detail: String) -> String {
        "Connection closed with an error. \(detail)"
    }

    /// Stateful reconnect: the peer's Sequence skips messages we never received.
    static let sequenceGap = "Sequence ID greater than amount of messages we've received."

    // MARK: Log texts (not sent to clients; kept identical to the .NET log lines for grep-ability)

    static func argumentCountMismatch(provided: Int, expected: Int) -> String {
        "Invocation provides \(provided) argument(s) but target expects \(expected)."
    }

    static func maximumMessageSizeExceeded(_ limit: Int) -> String {
        "The maximum message size of \(limit)B was exceeded."
    }
}
