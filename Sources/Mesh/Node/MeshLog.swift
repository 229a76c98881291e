import NetKit

/// The node's log: its ``Logger``, or a sink of its own when ``MeshOptions/logSink`` is set (tests read what one
/// node logged without touching the process-wide sink that other tests share).
struct MeshLog: Sendable {
    let logger: Logger
    let sink: (any LogSink)?

    init(logger: Logger, sink: (any LogSink)?) {
        self.logger = logger
        self.sink = sink
    }

    func log(_ level: LogLevel, _ message: @autoclosure () -> String, _ extra: [String: String] = [:]) {
        guard let sink else { return logger.log(level, message(), extra) }
        guard logger.isEnabled(level) else { return }
        var line = "\(level) [\(logger.label)] \(message())"
        let all = logger.metadata.merging(extra) { _, new in new }
        if !all.isEmpty { line += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        sink.write(LogText.escapingControls(line))
    }

    func debug(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.debug, m(), extra) }
    func info(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.info, m(), extra) }
    func warning(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.warning, m(), extra) }
    func error(_ m: @autoclosure () -> String, _ extra: [String: String] = [:]) { log(.error, m(), extra) }
}
