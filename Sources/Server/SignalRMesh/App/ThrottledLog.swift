import NetKit

/// Log lines that clients or peers can cause at will (a refused Origin, an oversize message, a malformed hub
/// message…), rate limited per kind with a ``LogRateLimiter``: a burst, then one line per interval. The next
/// line of a kind let through says how many were held back; if none comes, ``flush()`` (called on the loop's
/// heartbeat) writes one line with the count once the interval has passed, so a flood is never silent.
///
/// One per event loop (not thread-safe); the clock is injected. Outside text going into these lines must still
/// pass through `LogText.untrusted(_:)`: this type limits how many lines there are, not what they contain.
final class ThrottledLog {
    /// Writes one line (the default hands it to the logger; tests capture it).
    typealias Emit = (_ logger: Logger, _ level: LogLevel, _ line: String) -> Void

    private var limiter: LogRateLimiter
    private let clock: () -> UInt64
    private let emit: Emit
    /// When each kind last had a line let through. Kinds are a few literals in the code, so this stays small.
    private var lastAllowed: [String: UInt64] = [:]
    /// Kinds holding lines back, with where to report them.
    private var holding: [String: (logger: Logger, level: LogLevel)] = [:]

    /// Five lines at once per kind, then one every 5 s.
    static let defaultLimiter = LogRateLimiter(burst: 5, intervalNanos: 5_000_000_000)

    /// - Parameters:
    ///   - limiter: the rate rule.
    ///   - clock: monotonic nanoseconds (the loop's `now`).
    ///   - emit: where lines go (default: the logger).
    init(limiter: LogRateLimiter = ThrottledLog.defaultLimiter, clock: @escaping () -> UInt64, emit: Emit? = nil) {
        self.limiter = limiter
        self.clock = clock
        self.emit = emit ?? { logger, level, line in logger.log(level, line) }
    }

    /// Logs `message` through `logger` at `level` unless lines of `kind` are over their rate. The message is
    /// only built when it is written.
    /// - Returns: whether the line was written.
    @discardableResult
    func log(_ logger: Logger, _ level: LogLevel, kind: String, _ message: @autoclosure () -> String) -> Bool {
        guard logger.isEnabled(level) else { return false }
        let now = clock()
        let verdict = limiter.admit(kind, now: now)
        guard verdict.allowed else {
            if holding[kind] == nil { holding[kind] = (logger, level) }
            return false
        }
        lastAllowed[kind] = now
        holding[kind] = nil
        let suffix = verdict.suppressed > 0 ? " (\(verdict.suppressed) more like this suppressed)" : ""
        emit(logger, level, message() + suffix)
        return true
    }

    func warning(_ logger: Logger, kind: String, _ message: @autoclosure () -> String) {
        log(logger, .warning, kind: kind, message())
    }

    func info(_ logger: Logger, kind: String, _ message: @autoclosure () -> String) {
        log(logger, .info, kind: kind, message())
    }

    /// For every kind that held lines back and has been quiet for an interval since its last line: one line
    /// saying how many were suppressed. Cheap when nothing is held back.
    func flush() {
        guard !holding.isEmpty else { return }
        let now = clock()
        for (kind, target) in holding {
            // A full interval after the last line let through there is a token again (the limiter refills one per
            // interval), so this admit is let through and reports the count without adding to it.
            guard now &- (lastAllowed[kind] ?? 0) >= limiter.intervalNanos else { continue }
            let verdict = limiter.admit(kind, now: now)
            guard verdict.allowed else { continue }
            lastAllowed[kind] = now
            holding[kind] = nil
            if verdict.suppressed > 0 {
                emit(target.logger, target.level, "\(verdict.suppressed) more \(kind) lines suppressed")
            }
        }
    }
}
