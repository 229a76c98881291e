/// One callable hub method, type-erased: name, arity, and an invoker that binds the JSON arguments to the
/// method's parameter types before the body runs.
struct HubMethod: Sendable {
    enum Body: @unchecked Sendable {
        /// Runs on the event loop, inline: no hop, for methods that only send.
        case sync((HubCaller, [JSONValue]) throws -> JSONValue?)
        /// Runs as a task; the connection's next invocation waits for it.
        case async(@Sendable (HubCaller, [JSONValue]) async throws -> JSONValue?)
    }

    let name: String
    let parameterCount: Int
    let requiresUser: Bool
    let body: Body
}
