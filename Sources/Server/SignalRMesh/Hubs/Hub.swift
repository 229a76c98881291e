import NetKit

/// An error whose message reaches the client, like ASP.NET Core's `HubException`.
struct HubException: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// What a hub method sees: who called, and whom it can send to. A value made per invocation (no allocation).
struct HubCallerContext {
    let connection: SignalRConnection
    let clients: HubClients

    init(connection: SignalRConnection, clients: HubClients) {
        self.connection = connection
        self.clients = clients
    }

    var connectionId: String { connection.connectionId }
    /// Per-connection storage, like `Context.Items`.
    var items: [String: String] {
        get { connection.items }
        nonmutating set { connection.items = newValue }
    }
}

/// `Clients.All/Caller/Others/Client(id)` over a lifetime manager (local or mesh-wide).
struct HubClients {
    let hubName: String
    let callerId: String?
    let manager: any HubLifetimeManager

    var all: ClientProxy { ClientProxy(hubName: hubName, target: .all, manager: manager) }
    func allExcept(_ ids: [String]) -> ClientProxy { ClientProxy(hubName: hubName, target: .allExcept(ids), manager: manager) }
    var caller: ClientProxy { ClientProxy(hubName: hubName, target: .connections([callerId ?? ""]), manager: manager) }
    var others: ClientProxy { ClientProxy(hubName: hubName, target: .allExcept([callerId ?? ""]), manager: manager) }
    func client(_ id: String) -> ClientProxy { ClientProxy(hubName: hubName, target: .connections([id]), manager: manager) }
    func clients(_ ids: [String]) -> ClientProxy { ClientProxy(hubName: hubName, target: .connections(ids), manager: manager) }
}

/// Sends one invocation to a set of connections, encoded once.
struct ClientProxy {
    let hubName: String
    let target: RouteTarget
    let manager: any HubLifetimeManager

    func send<each Argument: HubValue>(_ method: String, _ arguments: repeat each Argument) {
        encodeAndSend(method) { out in
            var first = true
            for argument in repeat each arguments {
                if !first { out.append(JSONByte.comma) }
                first = false
                argument.writeJSON(into: &out)
            }
        }
    }

    /// One buffer for the JSON and its WebSocket frame, sized for a chat message; no value per argument.
    private func encodeAndSend(_ method: String, writeArguments: (inout [UInt8]) -> Void) {
        let headers = manager.messageHeaders
        let message = OutgoingMessage(capacity: 256) { out in
            JSONHubProtocol.encodeInvocation(target: method, headers: headers, into: &out, writeArguments: writeArguments)
        }
        manager.send(message, hub: hubName, to: target)
    }
}

/// One callable hub method: name, arity, and a type-checked invoker.
struct HubMethod {
    let name: String
    let parameterCount: Int
    let invoke: (HubCallerContext, [JSONValue]) throws -> JSONValue?
}

/// A hub: a path and its methods. Methods are registered with typed closures; the argument count and types are
/// checked before the body runs, and errors map to the exact ASP.NET Core error texts.
final class HubDefinition {
    let name: String
    let path: String
    private(set) var methods: [String: HubMethod] = [:]
    var onConnected: ((HubCallerContext) -> Void)?
    var onDisconnected: ((HubCallerContext) -> Void)?

    init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    private func add(_ name: String, _ count: Int, _ invoke: @escaping (HubCallerContext, [JSONValue]) throws -> JSONValue?) {
        methods[name] = HubMethod(name: name, parameterCount: count, invoke: invoke)
    }

    func on(_ name: String, _ body: @escaping (HubCallerContext) throws -> Void) {
        add(name, 0) { ctx, _ in try body(ctx); return nil }
    }
    func on<A: HubArgument>(_ name: String, _ body: @escaping (HubCallerContext, A) throws -> Void) {
        add(name, 1) { ctx, args in try body(ctx, try A(hubArgument: args[0])); return nil }
    }
    func on<A: HubArgument, B: HubArgument>(_ name: String, _ body: @escaping (HubCallerContext, A, B) throws -> Void) {
        add(name, 2) { ctx, args in try body(ctx, try A(hubArgument: args[0]), try B(hubArgument: args[1])); return nil }
    }
    func on<A: HubArgument, B: HubArgument, C: HubArgument>(_ name: String, _ body: @escaping (HubCallerContext, A, B, C) throws -> Void) {
        add(name, 3) { ctx, args in
            try body(ctx, try A(hubArgument: args[0]), try B(hubArgument: args[1]), try C(hubArgument: args[2]))
            return nil
        }
    }
    func on<R: HubValue>(_ name: String, _ body: @escaping (HubCallerContext) throws -> R) {
        add(name, 0) { ctx, _ in try body(ctx).jsonValue }
    }
    func on<A: HubArgument, R: HubValue>(_ name: String, _ body: @escaping (HubCallerContext, A) throws -> R) {
        add(name, 1) { ctx, args in try body(ctx, try A(hubArgument: args[0])).jsonValue }
    }
    func on<A: HubArgument, B: HubArgument, R: HubValue>(_ name: String, _ body: @escaping (HubCallerContext, A, B) throws -> R) {
        add(name, 2) { ctx, args in try body(ctx, try A(hubArgument: args[0]), try B(hubArgument: args[1])).jsonValue }
    }
}
