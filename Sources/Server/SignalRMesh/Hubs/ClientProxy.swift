/// Sends invocations to one target (`Clients.All`, `Clients.Group("x")`, …), like ASP.NET Core's `IClientProxy`.
/// Thread-safe: call it from a hub method, a task, or a timer.
public struct ClientProxy: Sendable {
    let sender: HubSender
    let target: RouteTarget

    /// Invokes `method` on every connection of the target with these arguments (any `Encodable` values;
    /// strings, numbers, booleans and optionals take a fast path). The message is serialized once, here, and
    /// reaches each recipient on any replica once; the call returns without waiting.
    ///
    /// - Throws: an `EncodingError` when an argument can't be encoded (a non-finite `Double`, …).
    public func send<each Argument: Encodable>(_ method: String, _ arguments: repeat each Argument) throws {
        let message = try OutgoingMessage(capacity: 256, isSequenced: true) { out in
            try JSONHubProtocol.encodeInvocation(target: method, headers: sender.router.messageHeaders, into: &out) { out in
                var first = true
                for argument in repeat each arguments {
                    if !first { out.append(JSONByte.comma) }
                    first = false
                    try HubArgumentCoding.write(argument, into: &out)
                }
            }
        }
        sender.send(message, to: target)
    }
}
