import Mesh
import NetKit

/// Whom a hub message is for.
enum RouteTarget: Equatable {
    case all
    case allExcept([String])
    case connections([String])
}

/// A server→client hub message, serialized once. The WebSocket text frame around it is also built once, lazily,
/// and the same bytes are queued on every recipient (server frames are unmasked, so they are identical).
final class OutgoingMessage {
    let json: [UInt8]
    private var frame: [UInt8]?

    init(json: [UInt8]) { self.json = json }

    var webSocketTextFrame: [UInt8] {
        if let frame { return frame }
        var out: [UInt8] = []
        out.reserveCapacity(json.count + 10)
        WebSocketFrameEncoder.encode(.text, payload: json, into: &out)
        frame = out
        return out
    }
}

/// Tracks a hub's connections and delivers messages to them: the seam the mesh plugs into
/// (ASP.NET Core's `HubLifetimeManager`).
protocol HubLifetimeManager: AnyObject {
    var nodeId: String { get }
    func add(_ connection: SignalRConnection)
    func remove(_ connection: SignalRConnection)
    func send(_ message: OutgoingMessage, hub: String, to target: RouteTarget)
    var connectionCount: Int { get }
}

/// Delivers to this replica's own connections of one hub.
final class LocalHubLifetimeManager: HubLifetimeManager {
    let nodeId: String
    let hubName: String
    private(set) var connections: [String: SignalRConnection] = [:]

    init(nodeId: String, hubName: String) {
        self.nodeId = nodeId
        self.hubName = hubName
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
    private var hubs: [String: LocalHubLifetimeManager] = [:]
    private let logger = Logger(label: "backplane")

    init(mesh: MeshNode) {
        self.mesh = mesh
        mesh.onDeliver = { [weak self] origin, payload in
            self?.receivedFromMesh(origin: origin, payload: payload)
        }
    }

    func register(_ local: LocalHubLifetimeManager) { hubs[local.hubName] = local }

    func publish(_ message: BackplaneMessage) { mesh.publish(message.encode()) }

    private func receivedFromMesh(origin: String, payload: [UInt8]) {
        guard let decoded = BackplaneMessage.decode(payload) else {
            logger.warning("dropped an undecodable backplane message from \(origin) (\(payload.count) bytes)")
            return
        }
        guard let hub = hubs[decoded.hub] else {
            logger.debug("backplane message for unknown hub \(decoded.hub) from \(origin)")
            return
        }
        hub.deliver(OutgoingMessage(json: decoded.json), to: decoded.target)
    }
}

/// Delivers locally and publishes through the mesh, so a message reaches the hub's clients on every replica.
final class MeshHubLifetimeManager: HubLifetimeManager {
    let local: LocalHubLifetimeManager
    let backplane: MeshBackplane

    var nodeId: String { local.nodeId }
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
        backplane.publish(BackplaneMessage(hub: hub, target: target, json: message.json))
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
        var out: [UInt8] = []
        out.reserveCapacity(json.count + hub.utf8.count + 32)
        out.append(1)
        Self.putString(hub, &out)
        let ids: [String]
        switch target {
        case .all: out.append(1); ids = []
        case .allExcept(let x): out.append(2); ids = x
        case .connections(let x): out.append(3); ids = x
        }
        out.append(UInt8(ids.count >> 8)); out.append(UInt8(ids.count & 0xFF))
        for id in ids { Self.putString(id, &out) }
        out.append(1)
        Self.putString("json", &out)
        let n = UInt32(json.count)
        out.append(UInt8(n >> 24)); out.append(UInt8((n >> 16) & 0xFF)); out.append(UInt8((n >> 8) & 0xFF)); out.append(UInt8(n & 0xFF))
        out.append(contentsOf: json)
        return out
    }

    static func decode(_ bytes: [UInt8]) -> BackplaneMessage? {
        var i = 0
        func u8() -> UInt8? { guard i < bytes.count else { return nil }; defer { i += 1 }; return bytes[i] }
        func u16() -> Int? { guard let a = u8(), let b = u8() else { return nil }; return Int(a) << 8 | Int(b) }
        func u32() -> Int? { guard let a = u16(), let b = u16() else { return nil }; return a << 16 | b }
        func str() -> String? {
            guard let n = u16(), i + n <= bytes.count else { return nil }
            defer { i += n }
            return String(decoding: bytes[i..<i + n], as: UTF8.self)
        }
        guard u8() == 1, let hub = str(), let kind = u8(), let count = u16() else { return nil }
        var ids: [String] = []
        for _ in 0..<count { guard let s = str() else { return nil }; ids.append(s) }
        let target: RouteTarget
        switch kind {
        case 1: target = .all
        case 2: target = .allExcept(ids)
        case 3: target = .connections(ids)
        default: return nil
        }
        guard let protocols = u8() else { return nil }
        var json: [UInt8]?
        for _ in 0..<protocols {
            guard let name = str(), let n = u32(), i + n <= bytes.count else { return nil }
            if name == "json" { json = Array(bytes[i..<i + n]) }
            i += n
        }
        guard let json else { return nil }
        return BackplaneMessage(hub: hub, target: target, json: json)
    }

    private static func putString(_ s: String, _ out: inout [UInt8]) {
        let u = Array(s.utf8.prefix(65535))
        out.append(UInt8(u.count >> 8)); out.append(UInt8(u.count & 0xFF))
        out.append(contentsOf: u)
    }
}
