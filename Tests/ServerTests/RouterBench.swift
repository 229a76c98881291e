import Foundation
import NetKit
import Synchronization

@testable import SignalRMesh

/// A connection that records what it is sent.
final class RecordingSink: HubConnectionSink, @unchecked Sendable {
    let connectionId: String
    private let lock = Mutex<[String]>([])

    init(_ id: String) { connectionId = id }

    func sendMessage(_ message: OutgoingMessage) {
        let text = message.withJSON { String(decoding: $0, as: UTF8.self) }
        lock.withLock { $0.append(text) }
    }

    var texts: [String] { lock.withLock { $0 } }
    /// The arguments arrays of the invocations received, as JSON text.
    var invocations: [String] { texts }
}

/// Hub routers of several replicas in one process, joined by an ``InMemoryBackplaneNetwork``, on one loop.
final class RouterBench: @unchecked Sendable {
    let loop: EventLoop
    let network = InMemoryBackplaneNetwork()
    var routers: [String: HubRouter] = [:]

    /// - Parameter scheduler: the routers' timers (default: the loop's real ones).
    init(replicas: [String], options: HubRouter.Options = HubRouter.Options(), scheduler: (any RouterScheduler)? = nil) throws {
        loop = try EventLoop.spawn(name: "router-bench")
        run {
            for id in replicas {
                let backplane = self.network.node(id, cluster: replicas)
                let router = HubRouter(
                    replicaId: id, backplane: replicas.count > 1 ? backplane : nil,
                    scheduler: scheduler ?? LoopScheduler(loop: self.loop), options: options)
                self.routers[id] = router
                router.start()
            }
        }
        settle()
    }

    deinit { loop.stop() }

    /// Runs `body` on the loop and waits for it.
    func run<R>(_ body: @escaping () -> R) -> R {
        let result = Mutex<R?>(nil)
        let sem = DispatchSemaphore(value: 0)
        let box = UnsafeSendableBox(body)
        loop.execute {
            let value = box.value()
            let sendable = UnsafeSendableBox(value)
            result.withLock { $0 = sendable.value }
            sem.signal()
        }
        sem.wait()
        return result.withLock { $0! }
    }

    /// Lets queued loop tasks run and the network deliver, until nothing is left.
    func settle() {
        for _ in 0..<50 {
            let pending = run { () -> Int in
                self.network.deliverAll()
                return self.network.pending
            }
            if pending == 0 {
                // Once more: a send made off the loop may have queued a task behind the last one.
                if run({ self.network.pending }) == 0 { return }
            }
        }
    }

    func clients(_ replica: String, hub: String) -> HubClients {
        HubClients(sender: HubSender(loop: loop, router: routers[replica]!, hubName: hub))
    }

    /// Connects a recording connection with an id owned by `replica`.
    func connect(_ replica: String, hub: String = "H", user: String? = nil) -> RecordingSink {
        let router = routers[replica]!
        let sink = RecordingSink(router.owners.newConnectionId())
        run { router.connected(sink, hub: hub, user: user) }
        settle()
        return sink
    }

    /// Runs a group change from `replica`, lets the network deliver, and returns its outcome (nil: success;
    /// "pending": it did not complete).
    func changeGroup(from replica: String, _ connectionId: String, _ group: String, add: Bool = true, hub: String = "H", settle: Bool = true) -> String? {
        let outcome = beginChangeGroup(from: replica, connectionId, group, add: add, hub: hub)
        if settle { self.settle() }
        return outcome() ?? "pending"
    }

    /// Starts a group change from `replica`; the returned closure gives its outcome so far (nil: not completed;
    /// .some(nil): success).
    func beginChangeGroup(from replica: String, _ connectionId: String, _ group: String, add: Bool = true, hub: String = "H") -> () -> String?? {
        let outcome = Mutex<String??>(nil)
        let router = routers[replica]!
        run {
            let done: (String?) -> Void = { error in outcome.withLock { $0 = .some(error) } }
            if add {
                router.addToGroup(hub: hub, connectionId: connectionId, group: group, completion: done)
            } else {
                router.removeFromGroup(hub: hub, connectionId: connectionId, group: group, completion: done)
            }
        }
        return { self.run { outcome.withLock { $0 } } }
    }

    /// Sends a message from `replica` and lets it arrive.
    func send(from replica: String, hub: String = "H", to target: RouteTarget, _ text: String) {
        let router = routers[replica]!
        run {
            let message = OutgoingMessage(capacity: 64) { out in out.append(contentsOf: Array(text.utf8)) }
            router.send(message, hub: hub, to: target)
        }
        settle()
    }

    /// Invoke payloads each replica received (not interest or group traffic).
    func invokesReceived(by replica: String) -> Int {
        run {
            self.network.deliveries.filter {
                $0.destination == replica && $0.payload.withUnsafeBytes { ClusterMessage.kind(of: $0) } == .invoke
            }.count
        }
    }
}

/// Timers that fire only when a test moves the clock (call ``advance(_:)`` on the routers' loop).
final class ManualScheduler: RouterScheduler, @unchecked Sendable {
    private var now: UInt64 = 0
    private var timers: [(id: Int, at: UInt64, body: () -> Void)] = []
    private var nextId = 0

    func schedule(afterNanos nanos: UInt64, _ body: @escaping () -> Void) -> () -> Void {
        nextId += 1
        let id = nextId
        timers.append((id, now + nanos, body))
        return { [weak self] in self?.timers.removeAll { $0.id == id } }
    }

    /// Moves the clock and runs the timers that came due, in order.
    func advance(_ nanos: UInt64) {
        now += nanos
        while let index = timers.indices.filter({ timers[$0].at <= now }).min(by: { timers[$0].at < timers[$1].at }) {
            let timer = timers.remove(at: index)
            timer.body()
        }
    }
}
