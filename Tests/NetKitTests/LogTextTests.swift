import Testing

@testable import NetKit

@Suite struct LogTextTests {
    @Test func plainTextIsQuotedAsIs() {
        #expect(LogText.untrusted("node-a") == "\"node-a\"")
        #expect(LogText.untrusted("") == "\"\"")
    }

    @Test func newlinesEscapesAndQuotesCannotForgeALine() {
        let forged = "x\n2026-12-05T00:00:00.000Z ERROR [mesh] fake\r\u{1B}[31mred\u{7F}\u{85}\"\\"
        let shown = LogText.untrusted(forged, limit: 1000)
        #expect(!shown.contains("\n") && !shown.contains("\r") && !shown.contains("\u{1B}"))
        #expect(shown == "\"x\\n2026-12-05T00:00:00.000Z ERROR [mesh] fake\\r\\u{1B}[31mred\\u{7F}\\u{85}\\\"\\\\\"")
    }

    @Test func longValuesAreCutAndCounted() {
        let long = String(repeating: "é", count: 32768)  // 64 KiB of UTF-8
        let shown = LogText.untrusted(long, limit: 10)
        #expect(shown == "\"" + String(repeating: "é", count: 10) + "…\"(+65516 bytes)")
        #expect(LogText.untrusted("abcdefghij", limit: 10) == "\"abcdefghij\"")
    }

    @Test func loggerEscapesWholeLines() {
        let sink = CapturingSink()
        LoggingSystem.bootstrap(level: .info, sink: sink)
        defer { LoggingSystem.bootstrap(level: .info) }
        Logger(label: "log-text-test").warning("bad\nline\u{1B}", ["k": "v\r\n"])
        // Other suites may log meanwhile (tests run in parallel): look at this test's line only.
        let mine = sink.lines.filter { $0.contains("[log-text-test]") }
        #expect(mine.count == 1)
        #expect(mine.first?.hasSuffix("[log-text-test] bad\\nline\\u{1B} k=v\\r\\n") == true)
    }
}

@Suite struct LogRateLimiterTests {
    let second: UInt64 = 1_000_000_000

    @Test func burstThenOnePerIntervalWithTheCountHeldBack() {
        var limiter = LogRateLimiter(burst: 3, intervalNanos: 10 * second)
        let t0: UInt64 = 100 * second
        for _ in 0..<3 { #expect(limiter.admit("k", now: t0).allowed) }
        for n in 1...50 { #expect(limiter.admit("k", now: t0 + UInt64(n)) == .init(allowed: false, suppressed: n)) }
        // Other keys are independent.
        #expect(limiter.admit("other", now: t0).allowed)
        // One token back after an interval; the allowed line reports the 50 held back, then the count restarts.
        #expect(limiter.admit("k", now: t0 + 10 * second) == .init(allowed: true, suppressed: 50))
        #expect(limiter.admit("k", now: t0 + 10 * second + 1) == .init(allowed: false, suppressed: 1))
        // A long quiet period refills the burst, no more.
        for _ in 0..<3 { #expect(limiter.admit("k", now: t0 + 1000 * second).allowed) }
        #expect(!limiter.admit("k", now: t0 + 1000 * second).allowed)
    }

    @Test func keysAreBounded() {
        var limiter = LogRateLimiter(burst: 1, intervalNanos: second, maxKeys: 8)
        for i in 0..<1000 { _ = limiter.admit("key\(i)", now: UInt64(i)) }
        #expect(limiter.trackedKeys <= 8)
    }
}
