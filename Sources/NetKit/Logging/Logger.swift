import Foundation
import Synchronization

/// Severity of a log line, ordered from most to least verbose.
public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { "\($0)" == name.lowercased() }) else { return nil }
        self = level
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Where log lines go. The default writes to stderr; tests install a capturing sink.
public protocol LogSink: Sendable {
    func write(_ line: String)
}

/// Writes each line with one `write(2)` so lines from several threads never interleave.
public struct StandardErrorSink: LogSink {
    public init() {}
    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
}

/// Keeps lines in memory (tests).
public final class CapturingSink: LogSink {
    private let storage = Mutex<[String]>([])
    public init() {}
    public func write(_ line: String) { storage.withLock { $0.append(line) } }
    public var lines: [String] { storage.withLock { $0 } }
}

/// Process-wide logging configuration: one sink and a minimum level.
public enum LoggingSystem {
    struct State: Sendable { var sink: any LogSink = StandardErrorSink(); var level: LogLevel = .info }
    static let state = Mutex(State())

    public static func bootstrap(level: LogLevel, sink: any LogSink = StandardErrorSink()) {
        state.withLock { $0 = State(sink: sink, level: level) }
    }

    public static var level: LogLevel { state.withLock { $0.level } }
}

/// A small levelled logger in the shape of swift-log's: a label, metadata, and lazily built messages.
public struct Logger: Sendable {
    public var label: String
    public var metadata: [String: String]

    public init(label: String, metadata: [String: String] = [:]) {
        self.label = label
        self.metadata = metadata
    }

    public func log(_ level: LogLevel, _ message: @autoclosure () -> String, _ extra: [String: String] = [:]) {
        let (sink, minimum) = LoggingSystem.state.withLock { ($0.sink, $0.level) }
        guard level >= minimum else { return }
        var line = "\(Logger.timestamp()) \(Logger.levelName(level)) [\(label)] \(message())"
        let all = metadata.merging(extra) { _, new in new }
        if !all.isEmpty {
            line += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        // Whatever a caller put in, one call is one line with no control characters (log injection).
        sink.write(LogText.escapingControls(line))
    }

    public func trace(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.trace, m(), extra) }
    public func debug(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.debug, m(), extra) }
    public func info(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.info, m(), extra) }
    public func notice(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.notice, m(), extra) }
    public func warning(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.warning, m(), extra) }
    public func error(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.error, m(), extra) }

    public func isEnabled(_ level: LogLevel) -> Bool { level >= LoggingSystem.level }

    static func levelName(_ level: LogLevel) -> String {
        switch level {
        case .trace: return "TRACE"
        case .debug: return "DEBUG"
        case .info: return "INFO "
        case .notice: return "NOTE "
        case .warning: return "WARN "
        case .error: return "ERROR"
        case .critical: return "CRIT "
        }
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var tmv = tm()
        var secs = ts.tv_sec
        gmtime_r(&secs, &tmv)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday),
            Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec), Int(ts.tv_nsec / 1_000_000))
    }
}
