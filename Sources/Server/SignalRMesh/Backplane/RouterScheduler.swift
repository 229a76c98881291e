import NetKit

/// Timers for ``HubRouter``: the event loop in a replica, a hand-driven clock in tests.
protocol RouterScheduler: AnyObject {
    /// Runs `body` after `nanos` on the router's loop; the returned closure cancels it.
    func schedule(afterNanos nanos: UInt64, _ body: @escaping () -> Void) -> () -> Void
}

/// ``RouterScheduler`` on an ``EventLoop``.
final class LoopScheduler: RouterScheduler {
    let loop: EventLoop
    init(loop: EventLoop) { self.loop = loop }

    func schedule(afterNanos nanos: UInt64, _ body: @escaping () -> Void) -> () -> Void {
        let id = loop.schedule(afterNanos: nanos, body)
        return { [loop] in loop.cancel(id) }
    }
}
