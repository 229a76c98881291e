/// What replicas say to each other to serve a connection's transport requests on a replica that doesn't own the
/// connection (no sticky sessions): carried inside ``ClusterMessage`` (kind `forward`).
///
/// The replica the client reached (the *front*) asks the connection's owner to `open` a WebSocket or SSE session
/// (the owner answers `opened`; then `data` flows both ways until either side sends `close`), or forwards a
/// long-poll, a POST or a DELETE as an `http` request that the owner answers with `reply`. Session and request
/// ids are the front's, so the owner keys them by (front, id).
///
/// Wire form (after the cluster header): `u8 kind | fields`, with the cluster's string (`u16 length | UTF-8`) and
/// big-endian integers; bytes are `u32 length | bytes`.
enum ForwardMessage: Equatable, Sendable {
    case open(request: UInt64, hub: String, token: String, transport: TransportKind)
    /// `status` 0: accepted (the session is open); else the HTTP status and text the front answers with.
    case opened(request: UInt64, status: Int, text: String)
    /// Client→server bytes (`toOwner`: front→owner), or server→client bytes in `format` (owner→front). The
    /// direction is explicit: two replicas can each front a session for the other under the same id.
    case data(session: UInt64, format: TransferFormat, bytes: [UInt8], toOwner: Bool)
    /// The session ended on the sender's side (`toOwner`: the client's socket closed on the front; `clean`: the
    /// client closed its WebSocket with a Close frame, rather than the connection dropping).
    case close(session: UInt64, toOwner: Bool, clean: Bool = false)
    case http(request: UInt64, hub: String, token: String, method: ForwardedMethod, body: [UInt8])
    case reply(request: UInt64, status: Int, contentType: String, body: [UInt8])

    enum Kind: UInt8 { case open = 1, opened, dataToOwner, closeToOwner, http, reply, dataToFront, closeToFront, cleanCloseToOwner }

    /// Longest body a forwarded request or reply may carry (bigger bodies are refused before forwarding).
    static let maxBodyBytes = 16 << 20

    func encode() -> [UInt8] {
        var w = ClusterWireWriter()
        w.header(.forward)
        switch self {
        case .open(let request, let hub, let token, let transport):
            w.u8(Kind.open.rawValue)
            w.u64(request)
            w.string(hub)
            w.string(token)
            w.u8(Self.code(transport))
        case .opened(let request, let status, let text):
            w.u8(Kind.opened.rawValue)
            w.u64(request)
            w.u16(status)
            w.string(text)
        case .data(let session, let format, let bytes, let toOwner):
            w.bytes.reserveCapacity(bytes.count + 20)
            w.u8(toOwner ? Kind.dataToOwner.rawValue : Kind.dataToFront.rawValue)
            w.u64(session)
            w.u8(format == .text ? 0 : 1)
            w.u32(bytes.count)
            w.bytes.append(contentsOf: bytes)
        case .close(let session, let toOwner, let clean):
            w.u8(toOwner ? (clean ? Kind.cleanCloseToOwner.rawValue : Kind.closeToOwner.rawValue) : Kind.closeToFront.rawValue)
            w.u64(session)
        case .http(let request, let hub, let token, let method, let body):
            w.u8(Kind.http.rawValue)
            w.u64(request)
            w.string(hub)
            w.string(token)
            w.u8(method.rawValue)
            w.u32(body.count)
            w.bytes.append(contentsOf: body)
        case .reply(let request, let status, let contentType, let body):
            w.u8(Kind.reply.rawValue)
            w.u64(request)
            w.u16(status)
            w.string(contentType)
            w.u32(body.count)
            w.bytes.append(contentsOf: body)
        }
        return w.bytes
    }

    /// Decodes the part after the cluster header; nil for anything malformed (never traps).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> ForwardMessage? {
        var r = ClusterWireReader(bytes)
        guard let raw = r.u8(), let kind = Kind(rawValue: raw) else { return nil }
        let message: ForwardMessage?
        switch kind {
        case .open:
            guard let request = r.u64(), let hub = r.string(), let token = r.string(), let t = r.u8(),
                let transport = Self.transport(t)
            else { return nil }
            message = .open(request: request, hub: hub, token: token, transport: transport)
        case .opened:
            guard let request = r.u64(), let status = r.u16(), let text = r.string() else { return nil }
            message = .opened(request: request, status: status, text: text)
        case .dataToOwner, .dataToFront:
            guard let session = r.u64(), let f = r.u8(), f <= 1, let n = r.u32(), let range = r.take(n) else { return nil }
            message = .data(
                session: session, format: f == 0 ? .text : .binary, bytes: Array(bytes[range]), toOwner: kind == .dataToOwner)
        case .closeToOwner, .closeToFront, .cleanCloseToOwner:
            guard let session = r.u64() else { return nil }
            message = .close(session: session, toOwner: kind != .closeToFront, clean: kind == .cleanCloseToOwner)
        case .http:
            guard let request = r.u64(), let hub = r.string(), let token = r.string(), let m = r.u8(),
                let method = ForwardedMethod(rawValue: m), let n = r.u32(), let range = r.take(n)
            else { return nil }
            message = .http(request: request, hub: hub, token: token, method: method, body: Array(bytes[range]))
        case .reply:
            guard let request = r.u64(), let status = r.u16(), let contentType = r.string(), let n = r.u32(),
                let range = r.take(n)
            else { return nil }
            message = .reply(request: request, status: status, contentType: contentType, body: Array(bytes[range]))
        }
        return r.atEnd ? message : nil
    }

    private static func code(_ t: TransportKind) -> UInt8 {
        switch t {
        case .webSockets: return 1
        case .serverSentEvents: return 2
        case .longPolling: return 3
        }
    }

    private static func transport(_ code: UInt8) -> TransportKind? {
        switch code {
        case 1: return .webSockets
        case 2: return .serverSentEvents
        case 3: return .longPolling
        default: return nil
        }
    }
}
