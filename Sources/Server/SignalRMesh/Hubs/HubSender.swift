import NetKit

/// A hub's way to the router from any thread: sends made on the loop go straight through, others hop onto it.
/// The router is loop-confined; this handle only touches it on the loop.
final class HubSender: @unchecked Sendable {
    let loop: EventLoop
    let router: HubRouter
    let hubName: String

    init(loop: EventLoop, router: HubRouter, hubName: String) {
        self.loop = loop
        self.router = router
        self.hubName = hubName
    }

    func send(_ message: OutgoingMessage, to target: RouteTarget) {
        if loop.inEventLoop {
            router.send(message, hub: hubName, to: target)
        } else {
            loop.execute { [self] in router.send(message, hub: hubName, to: target) }
        }
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
}
