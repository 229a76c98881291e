// The SignalR hub messages (HubProtocol.md, type ids 1–9), independent of their wire encoding.

/// An Invocation (type 1) or StreamInvocation (type 4).
struct InvocationMessage: Equatable, Sendable {
    /// nil means "fire and forget": the receiver must not answer. Required for stream invocations.
    var invocationId: String?
    /// The method name. Case-sensitive, no overloading.
    var target: String
    var arguments: [JSONValue]
    /// Upload streams: the caller then sends StreamItems and a Completion for each of these ids.
    var streamIds: [String]?
    /// String→string metadata; clients may send any (signalrcore sends its HTTP headers here).
    var headers: [String: String]?

    init(
        invocationId: String? = nil, target: String, arguments: [JSONValue], streamIds: [String]? = nil,
        headers: [String: String]? = nil
    ) {
        self.invocationId = invocationId
        self.target = target
        self.arguments = arguments
        self.streamIds = streamIds
        self.headers = headers
    }
}

/// One hub protocol message.
enum HubMessage: Equatable, Sendable {
    case invocation(InvocationMessage)
    case streamItem(invocationId: String, item: JSONValue)
    /// `result == nil && error == nil` is a void completion. A `result` of `.null` is a real (null) result
    /// and is written as `"result":null`. Never both.
    case completion(invocationId: String, result: JSONValue?, error: String?)
    /// The invocation's `invocationId` is required.
    case streamInvocation(InvocationMessage)
    case cancelInvocation(invocationId: String)
    case ping
    /// `allowReconnect` asks clients with automatic reconnect to try again.
    case close(error: String?, allowReconnect: Bool)
    /// Stateful reconnect: the highest tracked message id received.
    case ack(sequenceId: Int64)
    /// Stateful reconnect: the id of the first (re)sent message that follows.
    case sequence(sequenceId: Int64)

    /// The wire type id.
    var typeId: Int {
        switch self {
        case .invocation: return 1
        case .streamItem: return 2
        case .completion: return 3
        case .streamInvocation: return 4
        case .cancelInvocation: return 5
        case .ping: return 6
        case .close: return 7
        case .ack: return 8
        case .sequence: return 9
        }
    }

    /// Whether stateful reconnect numbers and buffers this message (Invocation, StreamItem, Completion,
    /// StreamInvocation, CancelInvocation); Ping, Close, Ack and Sequence are not tracked.
    var isSequenced: Bool { typeId <= 5 }
}

/// Why a hub message was rejected. The caller closes the connection on any of these (protocol error);
/// ``HubProtocolError/unknownType(_:)`` may instead be logged and ignored, as the JS client does.
enum HubProtocolError: Error, Equatable, CustomStringConvertible {
    /// Not JSON, or not a JSON object. The text says where.
    case invalidJSON(String)
    /// A required property is absent (or null). Holds the property name.
    case missingField(String)
    /// A property has the wrong JSON type or an impossible combination (`result` with `error`). Holds the
    /// property name.
    case invalidField(String)
    /// `type` is an integer this server does not know.
    case unknownType(Int)

    var description: String {
        switch self {
        case .invalidJSON(let detail): return "Invalid JSON: \(detail)"
        case .missingField(let name): return "Missing required property '\(name)'."
        case .invalidField(let name): return "Invalid value for property '\(name)'."
        case .unknownType(let type): return "Unknown message type \(type)."
        }
    }
}
