import NetKit

/// The node's log: its ``Logger``, or a sink of its own when ``MeshOptions/logSink`` is set (tests read what one
/// node logged without touching the process-wide sink that other tests share). Lines to such a sink are always
/// logfmt, whatever the process's format, so a test that switches the process's format can't change them.
struct MeshLog: Sendable {
    let logger: Logger
    let sink: (any LogSink)?

    init(logger: Logger, sink: (any LogSink)?) {
        self.logger = logger
        self.sink = sink
    }

    func log(_ level: LogLevel, _ message: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        guard let sink else { return logger.log(level, message(), extra()) }
        guard logger.isEnabled(level) else { return }
        let record = LogRecord(
            time: .now(), level: level, label: logger.label, message: message(), context: logger.metadata, fields: extra())
        sink.write(LogfmtFormatter().format(record))
    }

    func debug(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.debug, m(), extra())
    }
    func info(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.info, m(), extra())
    }
    func warning(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.warning, m(), extra())
    }
    func error(_ m: @autoclosure () -> String, _ extra: @autoclosure () -> [String: String] = [:]) {
        log(.error, m(), extra())
    }
}
