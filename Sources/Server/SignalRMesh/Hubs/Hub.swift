/// A hub: its name, the path it is served at, its methods and its connection hooks.
///
/// Methods take a ``HubCaller`` and any number of arguments of `Decodable` types (and ``HubStream``s the client
/// uploads), and may return an `Encodable` value; streaming methods (``stream(_:requiresUser:_:)``) return an
/// `AsyncSequence` of them. A method whose body doesn't `await` runs on the event loop, inline; one that does runs as a
/// task and never blocks the loop. Either way one connection's invocations run one at a time, in order (ASP.NET
/// Core's default). A ``HubException`` thrown by a method reaches the client with its message; other errors
/// reach it as a generic message (with their text under `--detailed-errors`).
///
/// ```swift
/// let hub = Hub("ChatHub", path: "/chatHub")
/// hub.method("SendMessage") { (caller, user: String?, message: String?) in
///     try caller.clients.all.send("ReceiveMessage", user, message)
/// }
/// hub.method("Join") { (caller, room: String) async throws in
///     try await caller.groups.add(caller.connectionId, to: room)
/// }
/// hub.stream("Counter") { (caller, count: Int) in
///     AsyncStream { c in for i in 0..<count { c.yield(i) }; c.finish() }
/// }
/// ```
///
/// Configure a hub before handing it to ``ReplicaServer``; it is read-only from then on.
public final class Hub: @unchecked Sendable {
    /// The hub's name (messages between replicas are routed by it).
    public let name: String
    /// The path it is served at, such as `/chatHub`.
    public let path: String
    /// When true, connecting needs a valid token with a user id: without one, negotiate and a skip-negotiation
    /// WebSocket connect get 401.
    public var requiresUser = false
    private(set) var methods: [String: HubMethod] = [:]
    private(set) var connectedHook: (@Sendable (HubCaller) async throws -> Void)?
    /// How long ``SingleClientProxy/invoke(_:_:returning:timeout:)`` waits for a client's answer by default;
    /// nil: the server's `--client-result-timeout` (30 s).
    public var clientResultTimeout: Duration?
    private(set) var disconnectedHook: (@Sendable (HubCaller, (any Error)?) async -> Void)?

    public init(_ name: String, path: String) {
        self.name = name
        self.path = path.hasPrefix("/") ? path : "/" + path
    }

    /// Runs when a connection has completed its handshake, before any of its invocations. Throwing closes it.
    public func onConnected(_ body: @escaping @Sendable (HubCaller) async throws -> Void) { connectedHook = body }

    /// Runs when a connection ended; `error` says why when it was not a normal close.
    public func onDisconnected(_ body: @escaping @Sendable (HubCaller, (any Error)?) async -> Void) {
        disconnectedHook = body
    }

    // MARK: Methods

    /// A method without result that doesn't await: runs on the event loop.
    /// - Parameter requiresUser: callers without a user id get the "unauthorized" error.
    public func method<each Argument: Decodable>(
        _ name: String, requiresUser: Bool = false, _ body: @escaping (HubCaller, repeat each Argument) throws -> Void
    ) {
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .sync { caller, inputs in
            let values = try Self.bind(repeat (each Argument).self, from: inputs)
            try body(caller, repeat each values)
            return nil
        })
    }

    /// A method with a result that doesn't await: runs on the event loop.
    public func method<each Argument: Decodable, Result: Encodable>(
        _ name: String, requiresUser: Bool = false, _ body: @escaping (HubCaller, repeat each Argument) throws -> Result
    ) {
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .sync { caller, inputs in
            let values = try Self.bind(repeat (each Argument).self, from: inputs)
            return try HubArgumentCoding.encode(try body(caller, repeat each values))
        })
    }

    /// An `async` method without result: runs as a task.
    public func method<each Argument: Decodable>(
        _ name: String, requiresUser: Bool = false,
        _ body: @escaping @Sendable (HubCaller, repeat each Argument) async throws -> Void
    ) {
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .async { caller, inputs in
            let values = try Self.bind(repeat (each Argument).self, from: inputs)
            try await body(caller, repeat each values)
            return nil
        })
    }

    /// An `async` method with a result: runs as a task.
    public func method<each Argument: Decodable, Result: Encodable>(
        _ name: String, requiresUser: Bool = false,
        _ body: @escaping @Sendable (HubCaller, repeat each Argument) async throws -> Result
    ) {
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .async { caller, inputs in
            let values = try Self.bind(repeat (each Argument).self, from: inputs)
            return try HubArgumentCoding.encode(try await body(caller, repeat each values))
        })
    }

    // MARK: Streaming methods

    /// A server→client streaming method (called with `StreamInvocation`): returns an `AsyncSequence` whose items
    /// are sent as `StreamItem`s, then a `Completion` (with an error if the sequence throws). Runs as a task; once
    /// it has returned its sequence, the connection's other invocations run while it streams. A `CancelInvocation`
    /// or the client's disconnect cancels the task (an `AsyncStream` then ends, `Task.sleep` throws), and a
    /// Completion without error is still sent. Items are produced no faster than the connection sends them: while
    /// more than 256 KiB wait to be written, the next item waits.
    public func stream<each Argument: Decodable, Items: AsyncSequence>(
        _ name: String, requiresUser: Bool = false,
        _ body: @escaping @Sendable (HubCaller, repeat each Argument) async throws -> Items
    ) where Items.Element: Encodable, Items: SendableMetatype, Items.AsyncIterator: SendableMetatype {
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .stream { caller, inputs, output in
            let items: Items
            do {
                let values = try Self.bind(repeat (each Argument).self, from: inputs)
                items = try await body(caller, repeat each values)
            } catch {
                throw StreamStartFailure(error: error)
            }
            await output.started()
            for try await item in items {
                guard await output.emit(try HubArgumentCoding.encode(item)) else { return }
            }
        })
    }

    private func add(_ name: String, _ arity: (arguments: Int, streams: Int), _ requiresUser: Bool, _ body: HubMethod.Body) {
        methods[name] = HubMethod(
            name: name, parameterCount: arity.arguments, streamParameterCount: arity.streams, requiresUser: requiresUser,
            body: body)
    }

    /// How many parameters come from `arguments`, and how many are upload streams.
    static func arity<each Argument>(_ types: repeat (each Argument).Type) -> (arguments: Int, streams: Int) {
        var count = (arguments: 0, streams: 0)
        for type in repeat each types {
            if type is any UploadStreamParameter.Type { count.streams += 1 } else { count.arguments += 1 }
        }
        return count
    }

    /// Decodes the arguments and binds the upload streams, each in order; the caller checked both counts.
    static func bind<each Argument: Decodable>(
        _ types: repeat (each Argument).Type, from inputs: HubMethod.Inputs
    ) throws -> (repeat each Argument) {
        var index = 0
        var streamIndex = 0
        func next<T: Decodable>(_ type: T.Type) throws -> T {
            if let stream = type as? any UploadStreamParameter.Type {
                defer { streamIndex += 1 }
                return stream.init(upload: inputs.streams[streamIndex]) as! T
            }
            defer { index += 1 }
            return try HubArgumentCoding.decode(type, from: inputs.arguments[index])
        }
        return (repeat try next(each types))
    }
}
