import Foundation
import Synchronization
import Mesh
import NetKit

/// One replica: the HTTP/SignalR server, its hubs and its mesh node on one event loop. Messages of every hub are
/// routed through the mesh to the clients of every replica.
///
/// ```swift
/// let replica = try ReplicaServer(config: config, options: options, hubs: [ChatHub.make(), myHub])
/// let address = try replica.start(httpAddress: SocketAddress(host: "127.0.0.1", port: 5001))
/// let news = replica.hubContext("MyHub")!
/// try news.clients.all.send("Tick", 1)
/// ```
public final class ReplicaServer: @unchecked Sendable {
    public let loop: EventLoop
    /// The I/O loops that do the client sockets' syscalls with `--loops` above 1 (nil: all on `loop`).
    public let ioLoops: IOLoopGroup?
    /// The cluster config in force: the one given at init, or the last one ``updateMembership(_:)`` applied.
    /// Thread-safe.
    public var config: MeshConfig { currentConfig.withLock { $0 } }
    private let currentConfig: Mutex<MeshConfig>
    public let options: ServerOptions
    public private(set) var http: HTTPServer!
    public private(set) var mesh: MeshNode!
    private(set) var router: HubRouter!
    private let logger: Logger
    /// What `GET /readyz` answers, and the timer that watches the first mesh sync (loop thread; see
    /// Replica+Readiness.swift).
    var readiness: Readiness
    var readinessTimer: TimerID?

    /// The hubs every replica serves unless told otherwise: the seed's `ChatHub` at `/chatHub` and the
    /// `DemoHub` at `/demoHub`.
    public static func defaultHubs() -> [Hub] { [ChatHub.make(), DemoHub.make()] }

    /// Creates the replica on a new loop thread. Nothing is bound yet.
    ///
    /// - Parameters:
    ///   - hubs: the hubs to serve, each at its own path (default: ``defaultHubs()``). Every replica of a cluster
    ///     should serve the same hubs.
    ///   - userIdProvider: takes the user id from a connection's token (default: `sub`, else `nameidentifier`).
    /// - Throws: a ``MeshConfigError`` for a bad config, or a ``UsageError`` for options that don't fit.
    public init(
        config: MeshConfig, options: ServerOptions, meshOptions: MeshOptions = MeshOptions(),
        hubs: [Hub] = ReplicaServer.defaultHubs(), userIdProvider: any UserIdProvider = DefaultUserIdProvider()
    ) throws {
        self.currentConfig = Mutex(config)
        self.options = options
        self.logger = Logger(label: "replica", metadata: ["node": options.nodeId])
        if let dir = options.publicDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw UsageError("--public-dir \(dir): no such directory")
            }
        }
        self.readiness = Readiness(syncTimeoutNanos: UInt64(options.readySyncTimeout * 1e9))
        loop = try EventLoop.spawn(name: "loop-\(options.nodeId)")
        do {
            ioLoops = options.loops > 1 ? try IOLoopGroup(control: loop, ioLoops: options.loops - 1) : nil
        } catch {
            loop.stop()
            throw error
        }
        let ioLoops = self.ioLoops
        var failure: (any Error)?
        runOnLoop {
            do {
                self.mesh = try MeshNode(config: config, selfId: options.nodeId, loop: self.loop, logger: Logger(label: "mesh", metadata: ["node": options.nodeId]), options: meshOptions)
                self.http = HTTPServer(loop: self.loop, options: options)
                self.http.ioLoops = ioLoops
                self.router = HubRouter(
                    replicaId: options.nodeId, backplane: MeshTransport(mesh: self.mesh),
                    scheduler: LoopScheduler(loop: self.loop), throttledLog: self.http.throttledLog)
                let authenticator = HubAuthenticator(
                    validator: options.jwtKey.map { JWTValidator(key: $0) }, userIdProvider: userIdProvider)
                var names = Set<String>()
                for hub in hubs {
                    guard names.insert(hub.name).inserted else { throw UsageError("two hubs are named \(hub.name)") }
                    self.http.addHub(hub, router: self.router, authenticator: authenticator)
                }
                let forwarder = TransportForwarder(server: self.http, router: self.router)
                self.http.forwarder = forwarder
                self.router.forwarder = forwarder
                if options.redirectNegotiate {
                    let mesh = self.mesh!
                    self.http.negotiateRedirector = NegotiateRedirector(
                        selfId: options.nodeId, replicas: config.replicas, isReachable: { [unowned mesh] in mesh.isReachable($0) })
                }
                self.http.meshStatus = { [unowned self] in
                    MeshStatusJSON.render(self.mesh.snapshot(), config: self.mesh.config, loop: self.loop.wakeToFirstWrite)
                }
                self.http.metrics = { [unowned self] in MetricsRenderer.render(self.metricsInput()) }
                self.http.readiness = { [unowned self] in
                    self.refreshReadiness()
                    return (self.readiness.isReady, self.readiness.text(now: self.loop.now))
                }
            } catch {
                failure = error
            }
        }
        if let failure {
            loop.stop()
            ioLoops?.stop()
            throw failure
        }
    }

    /// Binds the mesh and HTTP ports from this replica's peers entry (or the overrides) and starts serving.
    public func start(httpAddress: SocketAddress) throws -> SocketAddress {
        var result: Result<SocketAddress, any Error> = .failure(UsageError("not started"))
        runOnLoop {
            do {
                do {
                    try self.mesh.start()
                    self.router.start()
                } catch let e as SystemError {
                    let mesh = self.config.replica(self.options.nodeId).map { "\($0.mesh)" } ?? "?"
                    throw ListenError(what: "mesh", address: mesh, error: e)
                }
                do {
                    result = .success(try self.http.start(address: httpAddress))
                } catch let e as SystemError {
                    throw ListenError(what: "http", address: httpAddress.description, error: e)
                }
                self.startReadiness()
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// Applies a reloaded peers file without a restart (see ``MeshNode/updateMembership(_:)``): new replicas are
    /// dialed, removed ones left (their interest dropped, the sessions forwarded through them ended) and moved ones
    /// redialed; `--redirect-negotiate` spreads over the new list. Thread-safe; waits for the loop.
    ///
    /// - Throws: ``MembershipError`` when the config can't be applied to a running replica; nothing changed then.
    @discardableResult
    public func updateMembership(_ config: MeshConfig) throws(MembershipError) -> MembershipChange {
        var result: Result<MembershipChange, MembershipError> = .failure(.notRunning)
        runOnLoop {
            do throws(MembershipError) {
                let change = try self.mesh.updateMembership(config)
                self.currentConfig.withLock { $0 = config }
                if !change.isEmpty {
                    self.router.membershipChanged(replicas: change.replicas, removed: change.removed)
                    self.http.negotiateRedirector?.update(replicas: config.replicas)
                }
                result = .success(change)
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// Graceful stop: clients get Close with allowReconnect, peers hear we're leaving. Calls `completion` off-loop
    /// when done, within `timeout` seconds whatever happens.
    public func shutdown(timeout: Double = 4, completion: @escaping @Sendable () -> Void) {
        let done = Mutex(false)
        let finish: @Sendable () -> Void = {
            let first = done.withLock { d -> Bool in
                defer { d = true }
                return !d
            }
            if first { completion() }
        }
        loop.execute {
            self.http.shutdown()
            self.loop.schedule(afterNanos: UInt64(timeout * 1e9)) { finish() }
            let started = self.loop.now
            self.mesh.leave {
                // Exit once the clients' Close messages are out and their sockets closed (the loop flushes writes
                // at the end of each turn). A client that doesn't answer our close frame gets 1.5 s, not the full 5.
                self.loop.scheduleRepeating(everyNanos: 10_000_000) {
                    if self.http.openWebSockets == 0 || self.loop.now &- started > 1_500_000_000 { finish() }
                }
            }
        }
    }

    /// The clients and groups of the hub named `name`, for sending from outside its methods (nil: no such hub).
    /// Thread-safe.
    public func hubContext(_ name: String) -> HubContext? {
        var context: HubContext?
        runOnLoop {
            if let endpoint = self.http.endpoint(named: name) {
                context = HubContext(clients: endpoint.clients, groups: endpoint.groups)
            }
        }
        return context
    }

    /// Runs `body` on the loop and waits for it.
    public func runOnLoop(_ body: @escaping () -> Void) {
        if loop.inEventLoop {
            body()
            return
        }
        let sem = DispatchSemaphore(value: 0)
        let task = UnsafeTask(body)
        loop.execute {
            task.body()
            sem.signal()
        }
        sem.wait()
    }

    public func stopLoop() {
        loop.stop()
        ioLoops?.stop()
    }
}

/// Carries a loop-confined closure to the loop thread (the caller waits, so nothing runs concurrently).
struct UnsafeTask: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// A port we couldn't bind, in words for a one-line error.
public struct ListenError: Error, CustomStringConvertible {
    public var what: String
    public var address: String
    public var error: SystemError
    public var description: String {
        if error.errno == EADDRINUSE { return "cannot listen on \(address) (\(what)): address already in use" }
        return "cannot listen on \(address) (\(what)): \(error)"
    }
}
