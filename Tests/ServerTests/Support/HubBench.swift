import Foundation
import NetKit
import Synchronization

@testable import SignalRMesh

/// A transport without sockets: records what the connection writes, and feeds it client bytes.
final class FakeTransport: HubTransport, @unchecked Sendable {
    let kind = TransportKind.webSockets
    let loop: EventLoop
    let supportsBinary = true
    let hasInherentKeepAlive = false
    /// Set by a test to hold server→client streams back.
    var pendingWriteBytes = 0
    private(set) weak var handler: (any HubTransportHandler)?
    private(set) var sent: [[UInt8]] = []
    private(set) var closed = false

    init(loop: EventLoop) { self.loop = loop }

    func start(handler: any HubTransportHandler, leftover: [UInt8]) { self.handler = handler }
    func send(_ bytes: [UInt8], format: TransferFormat) { sent.append(bytes) }
    func send(_ message: OutgoingMessage, kind: HubProtocolKind) { message.withPayload(kind) { sent.append(Array($0)) } }
    func close() { closed = true }

    /// The socket went away under the connection.
    func drop() {
        closed = true
        handler?.transportClosed()
    }
}

/// Replicas with real ``HubEndpoint``s and ``SignalRConnection``s on one loop, joined by the in-memory backplane;
/// clients are ``FakeTransport``s that speak JSON.
final class HubBench: @unchecked Sendable {
    let routers: RouterBench
    private(set) var endpoints: [String: HubEndpoint] = [:]

    init(replicas: [String], scheduler: (any RouterScheduler)? = nil, hub make: @escaping () -> Hub = DemoHub.make) throws {
        routers = try RouterBench(replicas: replicas, scheduler: scheduler)
        let authenticator = HubAuthenticator(validator: nil, userIdProvider: DefaultUserIdProvider())
        let bench = routers
        for id in replicas {
            let router = routers.routers[id]!
            endpoints[id] = routers.run {
                HubEndpoint(
                    hub: make(), options: ServerOptions(nodeId: id), router: router, loop: bench.loop,
                    authenticator: authenticator, throttledLog: ThrottledLog(clock: { 0 }))
            }
        }
    }

    func run<R>(_ body: @escaping () -> R) -> R { routers.run(body) }

    /// Connects a client to `replica` and completes its JSON handshake.
    func connect(_ replica: String) -> TestClient {
        let endpoint = endpoints[replica]!
        let loop = routers.loop
        let (transport, id) = run { () -> (FakeTransport, String) in
            let record = endpoint.connections.createClaimed(now: loop.now)
            let transport = FakeTransport(loop: loop)
            endpoint.accept(record: record, transport: transport, leftover: [], now: loop.now)
            return (transport, record.connectionId)
        }
        let client = TestClient(bench: self, transport: transport, connectionId: id)
        client.sendRaw(#"{"protocol":"json","version":1}"# + "\u{1E}")
        routers.settle()
        return client
    }
}

/// One client of a ``HubBench``.
final class TestClient: @unchecked Sendable {
    let bench: HubBench
    let transport: FakeTransport
    let connectionId: String

    init(bench: HubBench, transport: FakeTransport, connectionId: String) {
        self.bench = bench
        self.transport = transport
        self.connectionId = connectionId
    }

    func sendRaw(_ text: String) {
        let transport = self.transport
        bench.run { Array(text.utf8).withUnsafeBytes { transport.handler?.transportReceived($0) } }
    }

    /// Sends one hub message (JSON, the 0x1E is added).
    func send(_ json: String) { sendRaw(json + "\u{1E}") }

    /// Every hub message received so far (the handshake response and pings left out).
    var messages: [HubMessage] {
        let transport = self.transport
        let frames = bench.run { transport.sent }
        var out: [HubMessage] = []
        for frame in frames {
            for part in frame.split(separator: 0x1E) where part != [0x7B, 0x7D] {
                if let m = try? JSONHubProtocol.parse(Array(part)), m != .ping { out.append(m) }
            }
        }
        return out
    }

    /// Waits (at most `seconds`) until `done` holds for the messages received; returns them either way.
    /// (Async: hub methods run on the cooperative pool, which a blocking wait would starve on a small machine.)
    @discardableResult
    /// The budget counts only the time this loop runs, each turn at most 50 ms: when CPU-heavy tests running in
    /// parallel hold every thread of the cooperative pool (as under TSan), the hub's tasks and this loop stall
    /// together, and a wall-clock deadline would run out before the hub had a chance to answer.
    func wait(_ seconds: Double = 30, until done: ([HubMessage]) -> Bool) async -> [HubMessage] {
        var waited = 0.0
        var current = messages
        while !done(current) && waited < seconds {
            let turn = Date()
            bench.routers.settle()
            try? await Task.sleep(for: .milliseconds(2))
            current = messages
            waited += min(Date().timeIntervalSince(turn), 0.05)
        }
        return current
    }

    /// The Completion for `id`, once it came (nil after the deadline).
    func completion(_ id: String, within seconds: Double = 30) async -> (result: JSONValue?, error: String?)? {
        let all = await wait(seconds) { $0.contains { Self.isCompletion($0, id) } }
        for m in all {
            if case .completion(id, let result, let error) = m { return (result, error) }
        }
        return nil
    }

    static func isCompletion(_ m: HubMessage, _ id: String) -> Bool {
        if case .completion(id, _, _) = m { return true }
        return false
    }

    /// The items of stream `id` received so far.
    func items(_ id: String) -> [JSONValue] {
        messages.compactMap { if case .streamItem(id, let item) = $0 { return item } else { return nil } }
    }

    /// Invocations the server sent this client with an invocation id (client results asked of it).
    var asked: [InvocationMessage] {
        messages.compactMap { if case .invocation(let inv) = $0, inv.invocationId != nil { return inv } else { return nil } }
    }
}
