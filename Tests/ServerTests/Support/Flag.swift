import Synchronization

/// A one-shot event a test can wait on with a deadline.
final class Flag: Sendable {
    private let state = Mutex(false)

    func set() { state.withLock { $0 = true } }

    var isSet: Bool { state.withLock { $0 } }

    /// Waits for ``set()`` at most `seconds`, without blocking a thread; true if it happened.
    func wait(_ seconds: Double = 30) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !isSet && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
        return isSet
    }
}
