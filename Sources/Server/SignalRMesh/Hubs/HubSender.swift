import NetKit

/// A hub's way to the router from any thread: sends made on the loop go straight through, others hop onto it.
/// The router is loop-confined; this handle only touches it on the loop.
final class HubSender: @unchecked Sendable {
    let loop: EventLoop
    let router: HubRouter
    let hubName: String
    /// Default wait for a client result.
    let clientResultTimeout: Duration

    init(loop: EventLoop, router: HubRouter, hubName: String, clientResultTimeout: Duration = .seconds(30)) {
        self.loop = loop
        self.router = router
        self.hubName = hubName
        self.clientResultTimeout = clientResultTimeout
    }

    func send(_ message: OutgoingMessage, to target: RouteTarget) {
        if loop.inEventLoop {
            router.send(message, hub: hubName, to: target)
        } else {
            loop.execute { [self] in router.send(message, hub: hubName, to: target) }
        }
    }

    /// Runs `body` on the loop: at once when called there, otherwise as soon as the loop gets to it.
    func onLoop(_ body: @escaping @Sendable () -> Void) {
        if loop.inEventLoop { body() } else { loop.execute(body) }
    }

    /// Runs a group change on the loop and waits for it to hold mesh-wide.
    func changeGroup(connectionId: String, group: String, add: Bool) async throws {
        let error: String? = await withCheckedContinuation { continuation in
            let body = { @Sendable [self] in
                let done: (String?) -> Void = { continuation.resume(returning: $0) }
                if add {
                    router.addToGroup(hub: hubName, connectionId: connectionId, group: group, completion: done)
                } else {
                    router.removeFromGroup(hub: hubName, connectionId: connectionId, group: group, completion: done)
                }
            }
            if loop.inEventLoop { body() } else { loop.execute(body) }
        }
        if let error { throw HubException(error) }
    }

    /// Invokes a method on one connection of any replica and waits for its answer (or a failure: the router
    /// always reports one, at the latest after `timeout`).
    func invokeClient(connectionId: String, target: String, arguments: [JSONValue], timeout: Duration) async
        -> ClientResultOutcome
    {
        let (seconds, attoseconds) = timeout.components
        let nanos = max(0, min(seconds, 86_400)) * 1_000_000_000 + max(0, attoseconds / 1_000_000_000)
        return await withCheckedContinuation { continuation in
            let body = { @Sendable [self] in
                router.invokeClient(
                    hub: hubName, connectionId: connectionId, target: target, arguments: arguments,
                    timeoutNanos: UInt64(nanos)
                ) { continuation.resume(returning: $0) }
            }
            if loop.inEventLoop { body() } else { loop.execute(body) }
        }
    }
}
