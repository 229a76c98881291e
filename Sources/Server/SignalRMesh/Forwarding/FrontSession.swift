import NetKit

/// The front's side of a forwarded transport request: the client's socket, taken from HTTP, while the owner
/// decides (`opened`/`reply`) and, for WebSockets and SSE, for the life of the session. Confined to the loop.
final class FrontSession {
    enum Kind {
        /// A WebSocket upgrade with its `Sec-WebSocket-Key`; `ws` once the owner accepted.
        case webSocket(key: String)
        case serverSentEvents
        /// A long-poll, POST or DELETE waiting for the owner's reply.
        case request(ForwardedMethod)
    }

    let id: UInt64
    let owner: String
    let kind: Kind
    let conn: TCPConnection
    /// The CORS headers of the request, for whatever is answered.
    let corsHeaders: [(String, String)]
    var ws: WebSocketSession?
    /// The session is open (the owner accepted it).
    var established = false
    var timer: TimerID?

    init(id: UInt64, owner: String, kind: Kind, conn: TCPConnection, corsHeaders: [(String, String)]) {
        self.id = id
        self.owner = owner
        self.kind = kind
        self.conn = conn
        self.corsHeaders = corsHeaders
    }
}
