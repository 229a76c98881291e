import NetKit

/// Log lines that clients or peers can cause at will (a refused Origin, an oversize message, a malformed hub
/// message…), rate limited per kind with a ``LogRateLimiter``: a burst, then one line per interval, and the
/// next line let through says how many were held back. One per event loop (not thread-safe); the clock is
/// injected.
///
/// Whatever outside text goes into these lines must still pass through `LogText.untrusted(_:)`.
final class ThrottledLog {
    private var limiter: LogRateLimiter
    private let clock: () -> UInt64

    /// - Parameters:
    ///   - limiter: the rate rule (default: 5 lines at once per kind, then one every 10 s).
    ///   - clock: monotonic nanoseconds (the loop's `now`).
    init(limiter: LogRateLimiter = LogRateLimiter(), clock: @escaping () -> UInt64) {
        self.limiter = limiter
        self.clock = clock
    }

    /// Logs `message` through `logger` at `level` unless lines of `kind` are over their rate.
    /// - Returns: whether the line was written (tests).
    @discardableResult
    func log(_ logger: Logger, _ level: LogLevel, kind: String, _ message: @autoclosure () -> String) -> Bool {
        guard logger.isEnabled(level) else { return false }
        let verdict = limiter.admit(kind, now: clock())
        guard verdict.allowed else { return false }
        let suffix = verdict.suppressed > 0 ? " (\(verdict.suppressed) more like this suppressed)" : ""
        logger.log(level, message() + suffix)
        return true
    }

    func warning(_ logger: Logger, kind: String, _ message: @autoclosure () -> String) {
        log(logger, .warning, kind: kind, message())
    }

    func info(_ logger: Logger, kind: String, _ message: @autoclosure () -> String) {
        log(logger, .info, kind: kind, message())
    }
}
