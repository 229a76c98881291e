import Mesh
import NetKit

/// Whom a hub message is for.
enum RouteTarget: Equatable {
    case all
    case allExcept([String])
    case connections([String])
}

/// A server→client hub message, serialized once, kept as the WebSocket text frame that carries it: server frames
/// are unmasked, so every recipient gets the same bytes, and the JSON is the frame minus its header.
struct OutgoingMessage {
    let webSocketTextFrame: [UInt8]
    private let headerCount: Int

    /// Frames JSON bytes that are already encoded (with their 0x1E), e.g. from the backplane: copied once.
    init(json: UnsafeRawBufferPointer) {
        self.init(capacity: json.count) { $0.append(contentsOf: json) }
    }

    /// Lets `writeJSON` append the message after room left for the frame header, then fills the header in:
    /// one buffer for both. The room is the 4 bytes of a 126…65 535-byte payload's header; a shorter payload
    /// moves 2 bytes left, a longer one 6 bytes right.
    init(capacity: Int, writeJSON: (inout [UInt8]) -> Void) {
        var frame: [UInt8] = []
        frame.reserveCapacity(capacity + 10)
        frame.append(contentsOf: repeatElement(0, count: 4))
        writeJSON(&frame)
        headerCount = WebSocketFrameEncoder.withHeader(.text, length: frame.count - 4, fin: true, masked: false) {
            frame.replaceSubrange(0..<4, with: $0)
            return $0.count
        }
        webSocketTextFrame = frame
    }

    /// The message's JSON (with its 0x1E), lent for the duration of `body`.
    func withJSON<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try webSocketTextFrame.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[headerCount...])) }
    }
}

/// Tracks a hub's connections and delivers messages to them: the seam the mesh plugs into
/// (ASP.NET Core's `HubLifetimeManager`).
protocol HubLifetimeManager: AnyObject {
    /// Headers of every invocation the hub sends: `replica` names the replica it came from (the web client
    /// labels messages with it; stock clients ignore headers).
    var messageHeaders: [(key: String, value: String)] { get }
    func add(_ connection: SignalRConnection)
    func remove(_ connection: SignalRConnection)
    func send(_ message: OutgoingMessage, hub: String, to target: RouteTarget)
    var connectionCount: Int { get }
}

/// Delivers to this replica's own connections of one hub.
final class LocalHubLifetimeManager: HubLifetimeManager {
    let hubName: String
    let messageHeaders: [(key: String, value: String)]
    private(set) var connections: [String: SignalRConnection] = [:]

    init(nodeId: String, hubName: String) {
        self.hubName = hubName
        self.messageHeaders = [("replica", nodeId)]
    }

    var connectionCount: Int { connections.count }

    func add(_ connection: SignalRConnection) {
        connections[connection.connectionId] = connection
    }

    func remove(_ connection: SignalRConnection) {
        if connections[connection.connectionId] === connection {
            connections[connection.connectionId] = nil
        }
    }

    func send(_ message: OutgoingMessage, hub: String, to target: RouteTarget) {
        deliver(message, to: target)
    }

    /// Writes the message to every matching local connection.
    func deliver(_ message: OutgoingMessage, to target: RouteTarget) {
        switch target {
        case .all:
            for c in connections.values { c.sendMessage(message) }
        case .allExcept(let excluded):
            if excluded.count == 1 {
                let skip = excluded[0]
                for (id, c) in connections where id != skip { c.sendMessage(message) }
            } else {
                let skip = Set(excluded)
                for (id, c) in connections where !skip.contains(id) { c.sendMessage(message) }
            }
        case .connections(let ids):
            for id in ids { connections[id]?.sendMessage(message) }
        }
    }

    func isLocal(_ id: String) -> Bool { connections[id] != nil }
}

/// Joins the hubs of this replica to the mesh: publishes their messages and hands what the mesh delivers to the
/// right hub's local connections. What crosses the mesh is the already-serialized message plus its route
/// (``BackplaneMessage``); receivers write the bytes straight to their sockets.
final class MeshBackplane {
    let mesh: MeshNode
    /// Few hubs, looked up by the name's bytes as they arrive: no `String` per message.
    private var hubs: [(name: [UInt8], manager: LocalHubLifetimeManager)] = []
    private let logger = Logger(label: "backplane")
    /// What peers send is outside text too: their lines are escaped and rate limited.
    private let throttledLog: ThrottledLog

    /// - Parameter throttledLog: the loop's rate limiter for log lines (default: one of its own on the mesh's loop).
    init(mesh: MeshNode, throttledLog: ThrottledLog? = nil) {
        self.mesh = mesh
        self.throttledLog = throttledLog ?? ThrottledLog(clock: { [loop = mesh.loop] in loop.now })
        mesh.onDeliver = { [weak self] origin, payload in
            self?.receivedFromMesh(origin: origin, payload: payload)
        }
    }

    func register(_ local: LocalHubLifetimeManager) { hubs.append((Array(local.hubName.utf8), local)) }

    func publish(hub: String, target: RouteTarget, json: UnsafeRawBufferPointer) {
        mesh.publish(BackplaneMessage.encode(hub: hub, target: target, json: json))
    }

    private func receivedFromMesh(origin: String, payload: [UInt8]) {
        payload.withUnsafeBytes { bytes in
            guard let fields = BackplaneMessage.Fields(bytes) else {
                throttledLog.warning(logger, kind: "backplane-undecodable",
                    "dropped an undecodable backplane message from \(LogText.untrusted(origin)) (\(payload.count) bytes)")
                return
            }
            let name = UnsafeRawBufferPointer(rebasing: bytes[fields.hub])
            guard let hub = hubs.first(where: { $0.name.elementsEqual(name) })?.manager else {
                throttledLog.log(logger, .debug, kind: "backplane-unknown-hub",
                    "backplane message for unknown hub \(LogText.untrusted(String(decoding: name, as: UTF8.self))) from \(LogText.untrusted(origin))")
                return
            }
            // Nobody here to deliver to: nothing to frame.
            guard hub.connectionCount > 0 else { return }
            let json = UnsafeRawBufferPointer(rebasing: bytes[fields.json])
            hub.deliver(OutgoingMessage(json: json), to: fields.target)
        }
    }
}

/// Delivers locally and publishes through the mesh, so a message reaches the hub's clients on every replica.
final class MeshHubLifetimeManager: HubLifetimeManager {
    let local: LocalHubLifetimeManager
    let backplane: MeshBackplane

    var messageHeaders: [(key: String, value: String)] { local.messageHeaders }
    var connectionCount: Int { local.connectionCount }

    init(local: LocalHubLifetimeManager, backplane: MeshBackplane) {
        self.local = local
        self.backplane = backplane
        backplane.register(local)
    }

    func add(_ connection: SignalRConnection) { local.add(connection) }
    func remove(_ connection: SignalRConnection) { local.remove(connection) }

    func send(_ message: OutgoingMessage, hub: String, to target: RouteTarget) {
        local.deliver(message, to: target)
        if case .connections(let ids) = target, ids.allSatisfy(local.isLocal) {
            return  // every recipient lives here: nothing for the other replicas
        }
        message.withJSON { backplane.publish(hub: hub, target: target, json: $0) }
    }
}

/// The hub-level payload carried (opaquely) by the mesh:
/// `u8 version(1) | str hub | u8 kind (1 all, 2 allExcept, 3 connections) | u16 n | n × str id | u8 protocols(1) | str "json" | u32 len | bytes`.
/// Strings are u16 length + UTF-8. The protocol list leaves room for MessagePack bytes next to the JSON ones.
struct BackplaneMessage: Equatable {
    var hub: String
    var target: RouteTarget
    var json: [UInt8]

    func encode() -> [UInt8] {
        json.withUnsafeBytes { Self.encode(hub: hub, target: target, json: $0) }
    }

    static func encode(hub: String, target: RouteTarget, json: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(json.count + hub.utf8.count + 32)
        out.append(1)
        putString(hub, &out)
        let ids: [String]
        switch target {
        case .all: out.append(1); ids = []
        case .allExcept(let x): out.append(2); ids = x
        case .connections(let x): out.append(3); ids = x
        }
        out.append(UInt8(ids.count >> 8)); out.append(UInt8(ids.count & 0xFF))
        for id in ids { putString(id, &out) }
        out.append(1)
        putString("json", &out)
        let n = UInt32(json.count)
        out.append(UInt8(n >> 24)); out.append(UInt8((n >> 16) & 0xFF)); out.append(UInt8((n >> 8) & 0xFF)); out.append(UInt8(n & 0xFF))
        out.append(contentsOf: json)
        return out
    }

    static func decode(_ bytes: [UInt8]) -> BackplaneMessage? {
        bytes.withUnsafeBytes { raw in
            Fields(raw).map {
                BackplaneMessage(
                    hub: String(decoding: raw[$0.hub], as: UTF8.self), target: $0.target, json: Array(raw[$0.json]))
            }
        }
    }

    /// Where a message's parts are in its bytes; only the connection ids of a targeted message are copied out.
    struct Fields {
        var hub: Range<Int>
        var target: RouteTarget
        var json: Range<Int>

        init?(_ bytes: UnsafeRawBufferPointer) {
            var i = 0
            func u8() -> UInt8? { guard i < bytes.count else { return nil }; defer { i += 1 }; return bytes[i] }
            func u16() -> Int? { guard let a = u8(), let b = u8() else { return nil }; return Int(a) << 8 | Int(b) }
            func u32() -> Int? { guard let a = u16(), let b = u16() else { return nil }; return a << 16 | b }
            func str() -> Range<Int>? {
                guard let n = u16(), i + n <= bytes.count else { return nil }
                defer { i += n }
                return i..<i + n
            }
            guard u8() == 1, let hub = str(), let kind = u8(), let count = u16() else { return nil }
            var ids: [String] = []
            for _ in 0..<count {
                guard let s = str() else { return nil }
                ids.append(String(decoding: bytes[s], as: UTF8.self))
            }
            switch kind {
            case 1: target = .all
            case 2: target = .allExcept(ids)
            case 3: target = .connections(ids)
            default: return nil
            }
            guard let protocols = u8() else { return nil }
            var json: Range<Int>?
            for _ in 0..<protocols {
                guard let name = str(), let n = u32(), i + n <= bytes.count else { return nil }
                if bytes[name].elementsEqual("json".utf8) { json = i..<i + n }
                i += n
            }
            guard let json else { return nil }
            self.hub = hub
            self.json = json
        }
    }

    private static func putString(_ s: String, _ out: inout [UInt8]) {
        let u = s.utf8.prefix(65535)
        out.append(UInt8(u.count >> 8)); out.append(UInt8(u.count & 0xFF))
        out.append(contentsOf: u)
    }
}
