import NetKit

/// ``RouterScheduler`` on an ``EventLoop``.
final class LoopScheduler: RouterScheduler {
    let loop: EventLoop
    init(loop: EventLoop) { self.loop = loop }

    func schedule(afterNanos nanos: UInt64, _ body: @escaping () -> Void) -> () -> Void {
        let id = loop.schedule(afterNanos: nanos, body)
        return { [loop] in loop.cancel(id) }
    }
}
