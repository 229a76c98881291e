import NetKit
import Testing

@testable import SignalRMesh

/// Issue 9, weakness 5 (server side): client-supplied text in log lines is escaped and cut short, and lines a
/// client can cause at will are rate limited.
@Suite struct LogSafetyTests {
    final class Lines {
        var lines: [String] = []
        var now: UInt64 = 1_000
    }

    func throttle(_ box: Lines) -> ThrottledLog {
        ThrottledLog(clock: { box.now }, emit: { _, level, message, fields in
            let suffix = fields.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            box.lines.append("\(level) \(message)\(suffix)")
        })
    }

    let logger = Logger(label: "test")

    @Test func aFloodGivesAHandfulOfLinesThenACount() {
        let box = Lines()
        let log = throttle(box)
        var built = 0
        for i in 0..<1000 {
            log.warning(logger, kind: "refused-origin", {
                built += 1
                return "refused \(i)"
            }())
        }
        #expect(box.lines == (0..<5).map { "warning refused \($0)" })
        #expect(built == 5, "suppressed lines are never built")
        log.flush()
        #expect(box.lines.count == 5, "nothing more before the interval is over")
        box.now += ThrottledLog.defaultLimiter.intervalNanos
        log.flush()
        #expect(box.lines.last == "warning lines suppressed kind=refused-origin suppressed=995")
        log.flush()
        #expect(box.lines.count == 6)
        // The next line after another interval carries no stale count.
        box.now += ThrottledLog.defaultLimiter.intervalNanos
        log.warning(logger, kind: "refused-origin", "again")
        #expect(box.lines.last == "warning again")
    }

    @Test func theNextLineLetThroughCarriesTheCount() {
        let box = Lines()
        let log = throttle(box)
        for _ in 0..<20 { log.info(logger, kind: "a", "x") }
        log.info(logger, kind: "b", "other kinds have their own budget")
        box.now += ThrottledLog.defaultLimiter.intervalNanos
        log.info(logger, kind: "a", "y")
        #expect(box.lines.suffix(2) == ["info other kinds have their own budget", "info y suppressed=15"])
        log.flush()
        #expect(box.lines.count == 7, "the count was reported once")
    }

    @Test func disabledLevelsCostNothing() {
        let box = Lines()
        let log = throttle(box)
        for _ in 0..<100 { log.log(logger, .trace, kind: "t", "never") }
        log.flush()
        box.now += 60_000_000_000
        log.flush()
        #expect(box.lines.isEmpty)
    }

    @Test func refusedOriginLineIsOneShortEscapedLine() {
        let nasty = "http://evil.example\n2026-01-01T00:00:00Z ERROR [main] forged\u{1B}[2J\u{9B}31m" + String(repeating: "A", count: 64 * 1024)
        let fields = HTTPServer.refusedOriginFields(
            method: "POST", path: "/chatHub/negotiate\r\nX: y", origin: nasty, peer: try? SocketAddress(parsing: "127.0.0.1:5555"))
        for formatter in [LogfmtFormatter() as any LogFormatter, JSONLogFormatter()] {
            let line = formatter.format(LogRecord(
                time: .now(), level: .info, label: "http", message: "request refused: Origin not allowed", fields: fields))
            #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
            #expect(line.utf8.count < 500, "\(line.utf8.count) bytes")
            #expect(line.contains(#"\n2026-01-01"#) && line.contains(#"\u001b[2J"#) && line.contains(#"\r\nX: y"#))
            #expect(line.contains("(+") && line.contains("127.0.0.1:5555") && line.contains("--allowed-origins"))
        }
    }
}
