/// A hub: its name, the path it is served at, its methods and its connection hooks.
///
/// Methods take a ``HubCaller`` and up to any number of arguments of `Decodable` types, and may return an
/// `Encodable` value. A method whose body doesn't `await` runs on the event loop, inline; one that does runs as a
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
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .sync { caller, arguments in
            let values = try Self.bind(repeat (each Argument).self, from: arguments)
            try body(caller, repeat each values)
            return nil
        })
    }

    /// A method with a result that doesn't await: runs on the event loop.
    public func method<each Argument: Decodable, Result: Encodable>(
        _ name: String, requiresUser: Bool = false, _ body: @escaping (HubCaller, repeat each Argument) throws -> Result
    ) {
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .sync { caller, arguments in
            let values = try Self.bind(repeat (each Argument).self, from: arguments)
            return try HubArgumentCoding.encode(try body(caller, repeat each values))
        })
    }

    /// An `async` method without result: runs as a task.
    public func method<each Argument: Decodable>(
        _ name: String, requiresUser: Bool = false,
        _ body: @escaping @Sendable (HubCaller, repeat each Argument) async throws -> Void
    ) {
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .async { caller, arguments in
            let values = try Self.bind(repeat (each Argument).self, from: arguments)
            try await body(caller, repeat each values)
            return nil
        })
    }

    /// An `async` method with a result: runs as a task.
    public func method<each Argument: Decodable, Result: Encodable>(
        _ name: String, requiresUser: Bool = false,
        _ body: @escaping @Sendable (HubCaller, repeat each Argument) async throws -> Result
    ) {
        add(name, Self.arity(repeat (each Argument).self), requiresUser, .async { caller, arguments in
            let values = try Self.bind(repeat (each Argument).self, from: arguments)
            return try HubArgumentCoding.encode(try await body(caller, repeat each values))
        })
    }

    private func add(_ name: String, _ count: Int, _ requiresUser: Bool, _ body: HubMethod.Body) {
        methods[name] = HubMethod(name: name, parameterCount: count, requiresUser: requiresUser, body: body)
    }

    static func arity<each Argument>(_ types: repeat (each Argument).Type) -> Int {
        var count = 0
        for _ in repeat each types { count += 1 }
        return count
    }

    /// Decodes the arguments in order; the caller checked the count.
    static func bind<each Argument: Decodable>(
        _ types: repeat (each Argument).Type, from arguments: [JSONValue]
    ) throws -> (repeat each Argument) {
        var index = 0
        func next<T: Decodable>(_ type: T.Type) throws -> T {
            defer { index += 1 }
            return try HubArgumentCoding.decode(type, from: arguments[index])
        }
        return (repeat try next(each types))
    }
}
