/// The transport requests a front replica forwards as plain requests (the rest are sessions).
enum ForwardedMethod: UInt8, Sendable {
    /// A long-poll `GET`.
    case poll = 1
    /// A `POST` of client→server bytes (SSE and long polling).
    case send = 2
    /// A `DELETE` ending a long-polling connection.
    case delete = 3
}
