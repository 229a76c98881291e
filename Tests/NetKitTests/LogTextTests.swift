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

    @Test func cutKeepsShortTextAndCountsTheRest() {
        #expect(LogText.cut("abc", limit: 3) == "abc")
        #expect(LogText.cut("abcd", limit: 3) == "abc…(+1 bytes)")
        #expect(LogText.cut(String(repeating: "é", count: 10), limit: 2) == "éé…(+16 bytes)")
        #expect(LogText.cut("a\nb", limit: 10) == "a\nb", "cut does not escape: the formatter does")
    }

    /// The one test that changes the process-wide logging setup (tests run in parallel: any other would race it).
    @Test func loggerWritesOneLineInTheSystemsFormat() throws {
        let sink = CapturingSink()
        defer { LoggingSystem.bootstrap(level: .info) }
        LoggingSystem.bootstrap(level: .info, metadata: ["node": "n1"], sink: sink)
        Logger(label: "log-text-test", metadata: ["conn": "c1"]).warning("bad\nline\u{1B}", ["k": "v\r\n"])
        var built = false
        Logger(label: "log-text-test").debug("below the level", {
            built = true
            return ["k": "v"]
        }())
        #expect(!built, "the fields of a line below the level are never built")
        LoggingSystem.bootstrap(level: .debug, format: .json, metadata: ["node": "n1"], sink: sink)
        #expect(LoggingSystem.format == .json && LoggingSystem.metadata == ["node": "n1"])
        Logger(label: "log-text-test").info("as json", ["peer": "b"])
        // Other suites may log meanwhile: look at this test's lines only.
        let mine = sink.lines.filter { $0.contains("log-text-test") }
        #expect(mine.count == 2, "\(mine)")
        #expect(mine.first?.hasSuffix(#"level=warning logger=log-text-test conn=c1 node=n1 msg="bad\nline\u001b" k="v\r\n""#) == true, "\(mine)")
        #expect(mine.last?.hasSuffix(#""level":"info","logger":"log-text-test","node":"n1","msg":"as json","peer":"b"}"#) == true, "\(mine)")
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
