/// What the hub layers of the replicas say to each other through the ``Backplane``: hub messages with their route,
/// and the interest (groups, users) and group operations that routing needs.
///
/// Wire form: `u8 version (2) | u8 kind | fields`. Strings are `u16 length | UTF-8`, lists `u16 count | items`,
/// ids `u64` big-endian, JSON `u32 length | bytes` (the hub protocol frame, 0x1E included).
enum ClusterMessage: Equatable, Sendable {
    /// A hub message for `target`, already serialized.
    /// Carries the message in each hub protocol (`messagePack` empty: not included), so that receivers frame it for
    /// their clients without encoding it again.
    case invoke(hub: String, target: RouteTarget, json: [UInt8], messagePack: [UInt8] = [])
    /// The sender now has (`added`) or no longer has members for `key`. An added key is acknowledged with
    /// ``interestAck(_:)`` carrying `announce`.
    case interest(key: InterestKey, added: Bool, announce: UInt64)
    /// The sender applied the interest change numbered `announce` of the replica it is addressed to.
    case interestAck(UInt64)
    /// "Send me your interest" (a replica that starts, or that sees the sender again after losing it).
    case snapshotRequest
    /// The sender's interest: with `reset`, replaces everything known of it; without, adds to the previous part.
    case snapshot(reset: Bool, keys: [InterestKey])
    /// Add (`add`) or remove a connection of the receiving replica to or from a group; answered by ``groupReply``.
    case groupRequest(id: UInt64, hub: String, connectionId: String, group: String, add: Bool)
    /// The outcome of ``groupRequest``: nil error for success.
    case groupReply(id: UInt64, error: String?)
    /// Invoke `target` on a connection of the receiving replica and send back its answer (``clientResult``);
    /// the receiver forgets the wait a little after `timeoutMillis`.
    case clientInvoke(
        id: UInt64, hub: String, connectionId: String, target: String, arguments: [JSONValue], timeoutMillis: UInt64)
    /// The outcome of ``clientInvoke``.
    case clientResult(id: UInt64, outcome: ClientResultOutcome)

    static let version: UInt8 = 2

    enum Kind: UInt8 {
        case invoke = 1, interest, interestAck, snapshotRequest, snapshot, groupRequest, groupReply, clientInvoke,
            clientResult
        /// A ``ForwardMessage`` (transport requests served by a replica that doesn't own the connection).
        case forward = 64
    }

    // MARK: Encoding

    func encode() -> [UInt8] {
        var w = ClusterWireWriter()
        switch self {
        case .invoke(let hub, let target, let json, let messagePack):
            return json.withUnsafeBytes { j in
                messagePack.withUnsafeBytes { m in Self.encodeInvoke(hub: hub, target: target, json: j, messagePack: m) }
            }
        case .interest(let key, let added, let announce):
            w.header(.interest)
            w.key(key)
            w.u8(added ? 1 : 0)
            w.u64(announce)
        case .interestAck(let announce):
            w.header(.interestAck)
            w.u64(announce)
        case .snapshotRequest:
            w.header(.snapshotRequest)
        case .snapshot(let reset, let keys):
            w.header(.snapshot)
            w.u8(reset ? 1 : 0)
            w.u32(keys.count)
            for key in keys { w.key(key) }
        case .groupRequest(let id, let hub, let connectionId, let group, let add):
            w.header(.groupRequest)
            w.u64(id)
            w.string(hub)
            w.string(connectionId)
            w.string(group)
            w.u8(add ? 1 : 0)
        case .groupReply(let id, let error):
            w.header(.groupReply)
            w.u64(id)
            w.u8(error == nil ? 0 : 1)
            if let error { w.string(error) }
        case .clientInvoke(let id, let hub, let connectionId, let target, let arguments, let timeoutMillis):
            w.header(.clientInvoke)
            w.u64(id)
            w.string(hub)
            w.string(connectionId)
            w.string(target)
            w.u64(timeoutMillis)
            var json: [UInt8] = []
            JSONWriter.write(.array(arguments), into: &json)
            w.u32(json.count)
            w.bytes += json
        case .clientResult(let id, let outcome):
            w.header(.clientResult)
            w.u64(id)
            var body: [UInt8] = []
            switch outcome {
            case .result(let value):
                w.u8(0)
                JSONWriter.write(value, into: &body)
            case .clientError(let text):
                w.u8(1)
                body = Array(text.utf8)
            case .failed(let text):
                w.u8(2)
                body = Array(text.utf8)
            case .canceled:
                w.u8(3)
            }
            w.u32(body.count)
            w.bytes += body
        }
        return w.bytes
    }

    /// An invocation straight from the bytes of an encoded hub message: one copy.
    static func encodeInvoke(
        hub: String, target: RouteTarget, json: UnsafeRawBufferPointer, messagePack: UnsafeRawBufferPointer
    ) -> [UInt8] {
        var w = ClusterWireWriter(capacity: json.count + messagePack.count + hub.utf8.count + 36)
        w.header(.invoke)
        w.string(hub)
        switch target {
        case .all:
            w.u8(1)
        case .allExcept(let ids):
            w.u8(2)
            w.list(ids)
        case .connections(let ids):
            w.u8(3)
            w.list(ids)
        case .groups(let groups, let except):
            w.u8(4)
            w.list(groups)
            w.list(except)
        case .users(let users):
            w.u8(5)
            w.list(users)
        }
        w.u32(json.count)
        w.bytes.append(contentsOf: json)
        w.u32(messagePack.count)
        w.bytes.append(contentsOf: messagePack)
        return w.bytes
    }

    // MARK: Decoding

    /// Decodes any message; an invocation's JSON is copied out (see ``InvokeFields`` for the no-copy path).
    static func decode(_ bytes: [UInt8]) -> ClusterMessage? {
        bytes.withUnsafeBytes { raw -> ClusterMessage? in
            var r = ClusterWireReader(raw)
            guard r.u8() == version, let rawKind = r.u8(), let kind = Kind(rawValue: rawKind) else { return nil }
            switch kind {
            case .invoke:
                guard let fields = InvokeFields(raw) else { return nil }
                return .invoke(
                    hub: String(decoding: raw[fields.hub], as: UTF8.self), target: fields.target,
                    json: Array(raw[fields.json]), messagePack: Array(raw[fields.messagePack]))
            case .interest:
                guard let key = r.key(), let added = r.u8(), let announce = r.u64(), r.atEnd else { return nil }
                return .interest(key: key, added: added != 0, announce: announce)
            case .interestAck:
                guard let announce = r.u64(), r.atEnd else { return nil }
                return .interestAck(announce)
            case .snapshotRequest:
                return r.atEnd ? .snapshotRequest : nil
            case .snapshot:
                guard let reset = r.u8(), let count = r.u32() else { return nil }
                var keys: [InterestKey] = []
                // Each key takes at least 7 bytes: a count beyond what is left is a lie, not a reservation.
                keys.reserveCapacity(min(count, r.remaining / 7))
                for _ in 0..<count {
                    guard let key = r.key() else { return nil }
                    keys.append(key)
                }
                return r.atEnd ? .snapshot(reset: reset != 0, keys: keys) : nil
            case .groupRequest:
                guard let id = r.u64(), let hub = r.string(), let connection = r.string(), let group = r.string(),
                    let add = r.u8(), r.atEnd
                else { return nil }
                return .groupRequest(id: id, hub: hub, connectionId: connection, group: group, add: add != 0)
            case .groupReply:
                guard let id = r.u64(), let hasError = r.u8() else { return nil }
                if hasError == 0 { return r.atEnd ? .groupReply(id: id, error: nil) : nil }
                guard let error = r.string(), r.atEnd else { return nil }
                return .groupReply(id: id, error: error)
            case .forward:
                return nil  // a ForwardMessage: TransportForwarder decodes it
            case .clientInvoke:
                guard let id = r.u64(), let hub = r.string(), let connection = r.string(), let target = r.string(),
                    let timeout = r.u64(), let length = r.u32(), let json = r.take(length), r.atEnd,
                    case .array(let arguments)? = try? JSONParser.parse(UnsafeRawBufferPointer(rebasing: raw[json]))
                else { return nil }
                return .clientInvoke(
                    id: id, hub: hub, connectionId: connection, target: target, arguments: arguments, timeoutMillis: timeout)
            case .clientResult:
                guard let id = r.u64(), let tag = r.u8(), let length = r.u32(), let body = r.take(length), r.atEnd else {
                    return nil
                }
                let bytes = UnsafeRawBufferPointer(rebasing: raw[body])
                switch tag {
                case 0:
                    guard let value = try? JSONParser.parse(bytes) else { return nil }
                    return .clientResult(id: id, outcome: .result(value))
                case 1: return .clientResult(id: id, outcome: .clientError(String(decoding: bytes, as: UTF8.self)))
                case 2: return .clientResult(id: id, outcome: .failed(String(decoding: bytes, as: UTF8.self)))
                case 3: return bytes.isEmpty ? .clientResult(id: id, outcome: .canceled) : nil
                default: return nil
                }
            }
        }
    }

    /// The kind of an encoded message, without decoding it.
    static func kind(of bytes: UnsafeRawBufferPointer) -> Kind? {
        guard bytes.count >= 2, bytes[0] == version else { return nil }
        return Kind(rawValue: bytes[1])
    }

    /// Where an invocation's parts are in its bytes: only the ids of its target are copied out.
    struct InvokeFields {
        var hub: Range<Int>
        var target: RouteTarget
        var json: Range<Int>
        /// Empty when the sender didn't include the MessagePack encoding.
        var messagePack: Range<Int>

        init?(_ bytes: UnsafeRawBufferPointer) {
            var r = ClusterWireReader(bytes)
            guard r.u8() == ClusterMessage.version, r.u8() == Kind.invoke.rawValue, let hub = r.stringRange(),
                let target = r.u8()
            else { return nil }
            switch target {
            case 1: self.target = .all
            case 2:
                guard let ids = r.list() else { return nil }
                self.target = .allExcept(ids)
            case 3:
                guard let ids = r.list() else { return nil }
                self.target = .connections(ids)
            case 4:
                guard let groups = r.list(), let except = r.list() else { return nil }
                self.target = .groups(groups, except: except)
            case 5:
                guard let users = r.list() else { return nil }
                self.target = .users(users)
            default:
                return nil
            }
            guard let length = r.u32(), let json = r.take(length), let mpLength = r.u32(), let messagePack = r.take(mpLength),
                r.atEnd
            else { return nil }
            self.hub = hub
            self.json = json
            self.messagePack = messagePack
        }
    }
}
