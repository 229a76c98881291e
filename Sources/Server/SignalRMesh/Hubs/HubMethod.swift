/// One callable hub method, type-erased: name, arity, and an invoker that binds the arguments (and upload
/// streams) to the method's parameter types before the body runs.
struct HubMethod: Sendable {
    /// What an invocation brings: its arguments, and the upload streams named by its `streamIds`, in order.
    struct Inputs: Sendable {
        var arguments: [JSONValue]
        var streams: [UploadStream] = []
    }

    enum Body: @unchecked Sendable {
        /// Runs on the event loop, inline: no hop, for methods that only send.
        case sync((HubCaller, Inputs) throws -> JSONValue?)
        /// Runs as a task; the connection's next invocation waits for it (unless it takes upload streams).
        case async(@Sendable (HubCaller, Inputs) async throws -> JSONValue?)
        /// A server→client stream, run as a task: binds and calls the method (errors then are wrapped in
        /// ``StreamStartFailure``), tells `output` it started, then hands it each item.
        case stream(@Sendable (HubCaller, Inputs, StreamOutput) async throws -> Void)
    }

    let name: String
    /// Parameters bound from `arguments`.
    let parameterCount: Int
    /// Parameters bound from `streamIds` (``HubStream``).
    let streamParameterCount: Int
    let requiresUser: Bool
    let body: Body

    var isStreaming: Bool {
        if case .stream = body { return true }
        return false
    }
}

/// A streaming method failed before it produced its sequence (binding, or the method threw): reported like a
/// failed invocation, not like a failed stream.
struct StreamStartFailure: Error {
    var error: any Error
}
