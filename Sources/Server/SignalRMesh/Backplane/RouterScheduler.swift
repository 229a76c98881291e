/// Timers for ``HubRouter``: the event loop in a replica, a hand-driven clock in tests.
protocol RouterScheduler: AnyObject {
    /// Runs `body` after `nanos` on the router's loop; the returned closure cancels it.
    func schedule(afterNanos nanos: UInt64, _ body: @escaping () -> Void) -> () -> Void
}
