import Foundation
import Glibc
import NetKit
import Synchronization
import Testing

@testable import Mesh

/// A value shared between the test thread and event loops.
final class Shared<T: Sendable>: Sendable {
    private let storage: Mutex<T>
    init(_ value: T) { storage = Mutex(value) }
    var value: T { storage.withLock { $0 } }
    func update<R>(_ body: (inout sending T) -> sending R) -> R { storage.withLock { body(&$0) } }
}

/// Moves a non-Sendable value across the loop boundary in tests (the loop is the only user meanwhile).
struct Unchecked<T>: @unchecked Sendable {
    var value: T
}

/// Runs `body` on `loop` and waits for its result.
func onLoop<T>(_ loop: EventLoop, _ body: @escaping () throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let result = Shared<Unchecked<Result<T, any Error>>?>(nil)
    let task = Unchecked(value: body)
    loop.execute {
        let outcome = Result { try task.value() }
        result.update { $0 = Unchecked(value: outcome) }
        done.signal()
    }
    done.wait()
    return try result.value!.value.get()
}

/// Polls `condition` every 5 ms until it holds or `timeout` seconds pass; returns whether it held.
/// Tests wait on events this way, never on bare sleeps.
@discardableResult
func waitUntil(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(5000)
    }
    return try condition()
}

/// Messages delivered by one node, in order.
final class DeliveryLog: Sendable {
    private let storage = Mutex<[(origin: String, payload: [UInt8])]>([])

    func record(_ origin: String, _ payload: [UInt8]) { storage.withLock { $0.append((origin, payload)) } }
    var count: Int { storage.withLock { $0.count } }
    func count(from origin: String) -> Int { storage.withLock { $0.filter { $0.origin == origin }.count } }
    /// Payloads from `origin`, as strings.
    func messages(from origin: String) -> [String] {
        storage.withLock { $0.filter { $0.origin == origin }.map { String(decoding: $0.payload, as: UTF8.self) } }
    }
}

/// N mesh nodes in this process, each on its own event loop, on 127.0.0.1 with ports picked by the kernel.
///
/// Listeners are bound first (port 0) so the config can carry the real ports; each node then adopts
/// its listener through ``MeshOptions/listener``.
final class TestMesh: @unchecked Sendable {
    let ids: [String]
    let loops: [EventLoop]
    let listeners: [MeshListener]
    let config: MeshConfig
    private(set) var nodes: [MeshNode?]
    private(set) var deliveries: [DeliveryLog]
    let baseOptions: MeshOptions

    init(
        ids: [String], secret: String = "test-secret-0123456789", options: MeshOptions = .init(),
        encryption: EncryptionSetting = .auto, start: Bool = true
    ) throws {
        ignoreSIGPIPE()  // raw test sockets and nodes write to peers that may just have closed
        self.ids = ids
        self.baseOptions = options
        var loops = [EventLoop]()
        var listeners = [MeshListener]()
        for id in ids {
            let loop = try EventLoop.spawn(name: "mesh-\(id)")
            loops.append(loop)
            listeners.append(try onLoop(loop) { try MeshListener(loop: loop, host: "127.0.0.1", port: 0) })
        }
        self.loops = loops
        self.listeners = listeners
        var replicas = [Replica]()
        for (index, id) in ids.enumerated() {
            replicas.append(
                Replica(
                    id: id, http: HostPort(host: "127.0.0.1", port: UInt16(40000 + index)),
                    mesh: HostPort(host: "127.0.0.1", port: listeners[index].port)))
        }
        self.config = MeshConfig(cluster: "test", secret: secret, replicas: replicas, encryption: encryption)
        self.nodes = Array(repeating: nil, count: ids.count)
        self.deliveries = ids.map { _ in DeliveryLog() }
        if start {
            for index in ids.indices { try startNode(index) }
        }
    }

    func index(_ id: String) -> Int { ids.firstIndex(of: id)! }

    /// Starts (or restarts, with a fresh delivery log) node `index` on its listener.
    func startNode(_ index: Int, options: MeshOptions? = nil, config: MeshConfig? = nil) throws {
        var opts = options ?? baseOptions
        opts.listener = listeners[index]
        let log = DeliveryLog()
        deliveries[index] = log
        let loop = loops[index]
        let id = ids[index]
        let cfg = config ?? self.config
        let node = try onLoop(loop) { () -> Unchecked<MeshNode> in
            let node = try MeshNode(config: cfg, selfId: id, loop: loop, logger: Logger(label: "mesh-\(id)"), options: opts)
            node.onDeliver = { origin, payload in log.record(origin, payload) }
            try node.start()
            return Unchecked(value: node)
        }
        nodes[index] = node.value
    }

    /// Abrupt stop of node `index` (sockets closed, no LEAVING).
    func stopNode(_ index: Int) throws {
        guard let node = nodes[index] else { return }
        let boxed = Unchecked(value: node)
        try onLoop(loops[index]) { boxed.value.shutdown() }
        nodes[index] = nil
    }

    func node(_ id: String) -> MeshNode { nodes[index(id)]! }
    func delivered(_ id: String) -> DeliveryLog { deliveries[index(id)] }

    /// Runs `body` with node `id` on its loop.
    func with<T>(_ id: String, _ body: @escaping (MeshNode) throws -> T) throws -> T {
        let boxed = Unchecked(value: node(id))
        return try onLoop(loops[index(id)]) { try body(boxed.value) }
    }

    func snapshot(_ id: String) throws -> MeshSnapshot { try with(id) { $0.snapshot() } }

    /// Publishes `"<id>:<n>"` for n in `range`, `chunk` messages per loop task.
    func publish(from id: String, _ range: Range<Int>, chunk: Int = 100, tag: String? = nil) throws {
        let prefix = tag ?? id
        var start = range.lowerBound
        while start < range.upperBound {
            let end = min(start + chunk, range.upperBound)
            let slice = start..<end
            try with(id) { node in
                for n in slice { node.publish(Array("\(prefix):\(n)".utf8)) }
            }
            start = end
        }
    }

    /// Every running node has every other running node up, and routes are direct (no relaying).
    func isSettled() throws -> Bool {
        let running = ids.indices.filter { nodes[$0] != nil }.map { ids[$0] }
        for id in running {
            let snap = try snapshot(id)
            for other in running where other != id {
                guard let peer = snap.peer(other), peer.state == .up, peer.requested == [other], peer.feeding == [id]
                else { return false }
            }
        }
        return true
    }

    func waitSettled(timeout: Double = 10) throws {
        let ok = try waitUntil(timeout: timeout) { try isSettled() }
        #expect(ok, "mesh did not settle")
    }

    func shutdownAll() {
        for index in ids.indices {
            let node = nodes[index].map { Unchecked(value: $0) }
            let listener = Unchecked(value: listeners[index])
            try? onLoop(loops[index]) {
                node?.value.shutdown()
                listener.value.close()
            }
            loops[index].stop()
        }
    }
}

/// `["<origin>:0", …, "<origin>:<n-1>"]`
func expectedMessages(_ origin: String, _ range: Range<Int>) -> [String] { range.map { "\(origin):\($0)" } }

// MARK: - A raw peer on a blocking socket (plays a replica by hand)

/// A blocking TCP client speaking the mesh protocol frame by frame, for tests that need a peer that
/// misbehaves (goes silent, sends only heartbeats).
final class RawPeer {
    let fd: Int32
    private var decoder = MeshFrameDecoder()

    /// - Parameter source: a local address to connect from (say "127.0.0.2", to look like another host); nil: any.
    init(port: UInt16, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw SystemError("bind \(source)") }  // deinit closes fd
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw SystemError("connect") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ frame: MeshFrame) { sendRaw(frame.encoded()) }

    /// Writes `bytes` as they are (for frames the encoder would refuse to build).
    func sendRaw(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// Next frame, or nil if none arrives within `timeout` seconds.
    func receive(timeout: Double = 2) throws -> MeshFrame? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let frame = try decoder.next() { return frame }
            if Date() > deadline { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { decoder.append(buffer[..<n]) } else if n == 0 { return nil }
        }
    }

    /// Waits until the other end closes the connection (EOF or reset), discarding frames; false after `timeout` s.
    func waitClosed(timeout: Double = 2) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return true }
        }
        return false
    }

    /// Reads until the other end closes (EOF or reset) or `timeout` seconds pass: how many bytes arrived, and whether
    /// it closed.
    func drain(timeout: Double = 2) -> (bytes: Int, closed: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { total += n; continue }
            if n == 0 { return (total, true) }
            if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return (total, true) }
        }
        return (total, false)
    }

    /// Runs the dialer side of the handshake; returns true once ACCEPT arrived.
    func handshake(as id: String, epoch: UInt64, config: MeshConfig, expecting peer: String) throws -> Bool {
        var machine = Handshake(
            role: .dialer, local: HandshakeIdentity(cluster: config.cluster, nodeId: id, epoch: epoch, secret: Array(config.secret.utf8)),
            nonce: Handshake.randomNonce(), expectedPeer: peer, knownPeers: Set(config.replicas.map(\.id)).subtracting([id]))
        var actions = machine.start()
        while true {
            for action in actions {
                switch action {
                case .send(let frame): send(frame)
                case .established: return true
                case .fail: return false
                case .authenticated: break
                }
            }
            guard let frame = try receive() else { return false }
            actions = machine.receive(frame)
        }
    }
}

// MARK: - A byte-copying TCP proxy that records (and can alter) what passes

/// Forwards every connection made to `port` to 127.0.0.1:`target`, keeping a copy of the bytes that went each way,
/// and optionally flipping one byte of the client→server stream. One thread per connection, blocking sockets with
/// `poll`; for tests only.
final class TestProxy: @unchecked Sendable {
    struct State {
        /// Client → server and server → client bytes of every connection, in order.
        var up: [UInt8] = []
        var down: [UInt8] = []
        /// Flip the byte at this offset of `up` (counted over all connections) as it passes.
        var flipUpAt: Int?
        var flipped = false
        var connections = 0
    }

    let port: UInt16
    let target: UInt16
    private let listenFD: Int32
    let state = Mutex(State())
    private let stopped = Atomic<Bool>(false)

    init(target: UInt16) throws {
        self.target = target
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw SystemError("proxy listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listenFD = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if stopped.load(ordering: .relaxed) { return }
                continue
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: target)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if rc != 0 {
                close(client)
                close(server)
                continue
            }
            state.withLock { $0.connections += 1 }
            Thread { [self] in pump(client: client, server: server) }.start()
        }
    }

    private func pump(client: Int32, server: Int32) {
        defer {
            close(client)
            close(server)
        }
        var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: server, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !stopped.load(ordering: .relaxed) {
            let ready = poll(&fds, 2, 100)
            if ready <= 0 { continue }
            for index in 0..<2 where fds[index].revents != 0 {
                let from = fds[index].fd
                let to = index == 0 ? server : client
                let n = recv(from, &buffer, buffer.count, 0)
                if n <= 0 { return }
                state.withLock { state in
                    if index == 0 {
                        let start = state.up.count
                        if let at = state.flipUpAt, !state.flipped, at >= start, at < start + n {
                            buffer[at - start] ^= 0x01
                            state.flipped = true
                        }
                        state.up.append(contentsOf: buffer[0..<n])
                    } else {
                        state.down.append(contentsOf: buffer[0..<n])
                    }
                }
                var offset = 0
                while offset < n {
                    let sent = buffer.withUnsafeBytes { send(to, $0.baseAddress! + offset, n - offset, Int32(MSG_NOSIGNAL)) }
                    if sent <= 0 { return }
                    offset += sent
                }
            }
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs anywhere in this array.
    func containsBytes(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if self[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}

// MARK: - A clock tests move by hand

/// A clock for ``MeshOptions/clock`` that a test moves forward: frozen between moves (`followingRealTime: false`),
/// or the real monotonic clock plus everything added. Routing and failure logic then sees seconds pass at once.
final class TestClock: Sendable {
    private let followsRealTime: Bool
    private let start: UInt64
    private let added = Atomic<UInt64>(0)

    init(followingRealTime: Bool) {
        self.followsRealTime = followingRealTime
        self.start = monotonicNanos()
    }

    var now: UInt64 { (followsRealTime ? monotonicNanos() : start) &+ added.load(ordering: .relaxed) }

    func advance(nanos: UInt64) { added.add(nanos, ordering: .relaxed) }
    func advance(seconds: Double) { advance(nanos: UInt64((seconds * 1e9).rounded())) }

    /// The closure for ``MeshOptions/clock``.
    var function: @Sendable () -> UInt64 { { [self] in now } }
}
