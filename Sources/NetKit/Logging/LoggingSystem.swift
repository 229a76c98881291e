import Synchronization

/// Process-wide logging configuration: the minimum level, the line format, metadata written on every line (the
/// replica's `node`), and the sink. Set once at start (``bootstrap(level:format:metadata:sink:)``); every
/// ``Logger`` reads it when it logs.
public enum LoggingSystem {
    struct State: Sendable {
        var sink: any LogSink = StandardErrorSink()
        var level: LogLevel = .info
        var format: LogFormat = .logfmt
        var formatter: any LogFormatter = LogfmtFormatter()
        var metadata: [String: String] = [:]
    }
    static let state = Mutex(State())

    /// - Parameters:
    ///   - level: lines below it are dropped (and their messages never built).
    ///   - format: `logfmt` (default) or `json`; its ``LogFormat/formatter`` writes every line.
    ///   - metadata: keys written on every line, in the context part (before `msg`).
    ///   - sink: where lines go (default: stderr).
    public static func bootstrap(
        level: LogLevel, format: LogFormat = .logfmt, metadata: [String: String] = [:],
        sink: any LogSink = StandardErrorSink()
    ) {
        bootstrap(level: level, format: format, formatter: format.formatter, metadata: metadata, sink: sink)
    }

    /// As ``bootstrap(level:format:metadata:sink:)`` with a formatter of one's own (`format` is what
    /// ``format`` then reports).
    public static func bootstrap(
        level: LogLevel, format: LogFormat, formatter: any LogFormatter, metadata: [String: String] = [:],
        sink: any LogSink = StandardErrorSink()
    ) {
        state.withLock {
            $0 = State(sink: sink, level: level, format: format, formatter: formatter, metadata: metadata)
        }
    }

    public static var level: LogLevel { state.withLock { $0.level } }
    public static var format: LogFormat { state.withLock { $0.format } }
    public static var metadata: [String: String] { state.withLock { $0.metadata } }
}
