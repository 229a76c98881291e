/// Severity of a log line, ordered from most to least verbose. Written lowercase (`level=warning`).
public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { "\($0)" == name.lowercased() }) else { return nil }
        self = level
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A small levelled logger in the shape of swift-log's: a label, metadata, and lazily built messages.
///
/// One call is one event and one line: a short message that says what happened (`link up`, `connection closed`),
/// and the event's fields (`peer`, `conn`, `reason`…) in `extra`, never buried in the message. The line's format
/// is the process's (``LoggingSystem``): logfmt or JSON.
public struct Logger: Sendable {
    public var label: String
    /// Context written on every line of this logger (before the message), such as a hub connection's `conn`.
    public var metadata: [String: String]

    public init(label: String, metadata: [String: String] = [:]) {
        self.label = label
        self.metadata = metadata
    }

    /// Writes one line at `level` if the system's level lets it through; `message` and `extra` are only built then.
    public func log(
        _ level: LogLevel, _ message: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]
    ) {
        let state = LoggingSystem.state.withLock { $0 }
        guard level >= state.level else { return }
        let context = state.metadata.isEmpty ? metadata : state.metadata.merging(metadata) { _, own in own }
        let record = LogRecord(
            time: .now(), level: level, label: label, message: message(), context: context, fields: extra())
        state.sink.write(state.formatter.format(record))
    }

    public func trace(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.trace, m(), extra())
    }
    public func debug(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.debug, m(), extra())
    }
    public func info(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.info, m(), extra())
    }
    public func notice(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.notice, m(), extra())
    }
    public func warning(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.warning, m(), extra())
    }
    public func error(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.error, m(), extra())
    }

    public func isEnabled(_ level: LogLevel) -> Bool { level >= LoggingSystem.level }
}
