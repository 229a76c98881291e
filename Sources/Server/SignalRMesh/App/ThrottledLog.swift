import NetKit

/// Log lines that clients or peers can cause at will (a refused Origin, an oversize message, a malformed hub
/// message…), rate limited per kind with a ``LogRateLimiter``: a burst, then one line per interval. The next
/// line of a kind let through says how many were held back (`suppressed=N`); if none comes, ``flush()`` (called
/// on the loop's heartbeat) writes one line with the count once the interval has passed (`msg="lines suppressed"
/// kind=… suppressed=N`), so a flood is never silent.
///
/// One per event loop (not thread-safe); the clock is injected. Outside text goes into fields, cut short with
/// `LogText.cut(_:limit:)` (the formatter escapes it): this type limits how many lines there are, not what they
/// contain.
final class ThrottledLog {
    /// Writes one line (the default hands it to the logger; tests capture it).
    typealias Emit = (_ logger: Logger, _ level: LogLevel, _ message: String, _ fields: [String: String]) -> Void

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
        self.emit = emit ?? { logger, level, message, fields in logger.log(level, message, fields) }
    }

    /// Logs `message` with `fields` through `logger` at `level` unless lines of `kind` are over their rate. The
    /// message and fields are only built when the line is written.
    /// - Returns: whether the line was written.
    @discardableResult
    func log(
        _ logger: Logger, _ level: LogLevel, kind: String, _ message: @autoclosure () -> String,
        _ fields: @autoclosure () -> [String: String] = [:]
    ) -> Bool {
        guard logger.isEnabled(level) else { return false }
        let now = clock()
        let verdict = limiter.admit(kind, now: now)
        guard verdict.allowed else {
            if holding[kind] == nil { holding[kind] = (logger, level) }
            return false
        }
        lastAllowed[kind] = now
        holding[kind] = nil
        var all = fields()
        if verdict.suppressed > 0 { all["suppressed"] = "\(verdict.suppressed)" }
        emit(logger, level, message(), all)
        return true
    }

    func warning(
        _ logger: Logger, kind: String, _ message: @autoclosure () -> String,
        _ fields: @autoclosure () -> [String: String] = [:]
    ) {
        log(logger, .warning, kind: kind, message(), fields())
    }

    func info(
        _ logger: Logger, kind: String, _ message: @autoclosure () -> String,
        _ fields: @autoclosure () -> [String: String] = [:]
    ) {
        log(logger, .info, kind: kind, message(), fields())
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
                emit(target.logger, target.level, "lines suppressed", ["kind": kind, "suppressed": "\(verdict.suppressed)"])
            }
        }
    }
}
