import Foundation
import Testing

@testable import NetKit

/// The two line formats: exact output for an ordinary event, and hostile values (line breaks, quotes, `=`,
/// terminal escapes, C1 and bidi controls, replacement characters from broken UTF-8, huge values, odd keys) that
/// must come out as one line that a reader parses back to what was logged.
@Suite struct LogFormatterTests {
    /// 2026-12-06T08:00:00.123Z
    static let time = LogTime(seconds: 1_796_544_000, nanoseconds: 123_456_789)

    static func record(
        _ message: String, level: LogLevel = .info, label: String = "mesh", context: [String: String] = ["node": "a"],
        fields: [String: String] = [:]
    ) -> LogRecord {
        LogRecord(time: time, level: level, label: label, message: message, context: context, fields: fields)
    }

    static let hostile: [String] = [
        "line\nbreak", "cr\rlf\r\n", "tab\there", "a \"quoted\" word", "back\\slash", "k=v", "x=\"y\" z=1",
        "\u{1B}[2J\u{1B}[31mred", "nul\u{0}byte", "del\u{7F}", "c1\u{85}\u{9B}31m", "ls\u{2028}ps\u{2029}",
        "bidi \u{202E}txt.exe\u{202C} \u{2066}iso\u{2069} \u{200F}rlm\u{200B}zw", String(decoding: [0x61, 0xFF, 0xFE, 0xC3, 0x28, 0x62] as [UInt8], as: UTF8.self),
        "", " ", "emoji 👩‍👩‍👧 é", "\u{FEFF}bom", "2026-12-06T08:00:00.000Z level=error msg=forged",
        "nbsp\u{00A0}ideographic\u{3000}space",
    ]

    // MARK: logfmt

    @Test func logfmtLineOfAnEvent() {
        let line = LogfmtFormatter().format(
            Self.record("link up", fields: ["peer": "b", "remote": "127.0.0.1:7002", "rtt": "0.412ms"]))
        #expect(line == #"ts=2026-12-06T08:00:00.123Z level=info logger=mesh node=a msg="link up" peer=b remote=127.0.0.1:7002 rtt=0.412ms"#)
    }

    @Test func logfmtQuotesOnlyWhatNeedsIt() {
        let f = LogfmtFormatter()
        #expect(f.format(Self.record("x", context: [:], fields: ["empty": ""])).hasSuffix(#"msg=x empty="""#))
        #expect(f.format(Self.record("x", context: [:], fields: ["path": "/chatHub?x"])).hasSuffix("path=/chatHub?x"))
        #expect(f.format(Self.record("x", context: [:], fields: ["eq": "a=b"])).hasSuffix(#"eq="a=b""#))
        #expect(f.format(Self.record("x", context: [:], fields: ["q": #"say "hi"\"#])).hasSuffix(#"q="say \"hi\"\\""#))
        #expect(f.format(Self.record("x", context: [:], fields: ["nl": "a\nb\u{1B}"])).hasSuffix(#"nl="a\nb\u001b""#))
        #expect(f.format(Self.record("x", context: [:], fields: ["u": "é"])).hasSuffix("u=é"))
    }

    @Test func logfmtHostileValuesStayOneLineAndParseBack() throws {
        for value in Self.hostile {
            let line = LogfmtFormatter().format(Self.record(value, fields: ["v": value, "w": "after"]))
            try Self.expectOneSafeLine(line)
            let pairs = try #require(Self.parseLogfmt(line), "unparseable: \(line)")
            #expect(pairs.map(\.key) == ["ts", "level", "logger", "node", "msg", "v", "w"], "\(line)")
            #expect(pairs.first { $0.key == "msg" }?.value == value, "\(line)")
            #expect(pairs.first { $0.key == "v" }?.value == value, "\(line)")
            #expect(pairs.last?.value == "after")
        }
    }

    // MARK: JSON

    @Test func jsonLineOfAnEvent() {
        let line = JSONLogFormatter().format(
            Self.record("link up", fields: ["peer": "b", "remote": "127.0.0.1:7002"]))
        #expect(line == #"{"ts":"2026-12-06T08:00:00.123Z","level":"info","logger":"mesh","node":"a","msg":"link up","peer":"b","remote":"127.0.0.1:7002"}"#)
    }

    @Test func jsonHostileValuesStayOneLineAndParseBack() throws {
        for value in Self.hostile {
            let line = JSONLogFormatter().format(Self.record(value, fields: ["v": value]))
            try Self.expectOneSafeLine(line)
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not an object of strings: \(line)")
            #expect(object["msg"] == value && object["v"] == value, "\(line)")
            #expect(object["level"] == "info" && object["node"] == "a")
        }
    }

    // MARK: Both

    @Test func longValuesAreCutWithTheCountOfWhatWasLeft() throws {
        let huge = String(repeating: "é", count: 100_000)  // 200 KB of UTF-8
        for formatter in [LogfmtFormatter(maxValueScalars: 100) as any LogFormatter, JSONLogFormatter(maxValueScalars: 100)] {
            let line = formatter.format(Self.record(huge, fields: ["v": huge, "short": "ok"]))
            #expect(line.utf8.count < 1000, "\(line.utf8.count) bytes")
            #expect(line.contains(String(repeating: "é", count: 100) + "…(+199800 bytes)"))
            #expect(line.contains("ok"))
        }
        // The default keeps 1024 scalars of every value.
        let line = LogfmtFormatter().format(Self.record("m", fields: ["v": huge]))
        #expect(line.utf8.count < 2200 + 100)
    }

    @Test func keysAreMadeSafeAndNeverClash() throws {
        let fields = ["a b": "1", "x\ny": "2", "": "3", "msg": "4", "ts": "5", "node": "6", String(repeating: "k", count: 500): "7"]
        for formatter in [LogfmtFormatter() as any LogFormatter, JSONLogFormatter()] {
            let line = formatter.format(Self.record("m", fields: fields))
            try Self.expectOneSafeLine(line)
            let keys: [String]
            if formatter is JSONLogFormatter {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
                #expect(object["msg"] == "m" && object["ts"] == "2026-12-06T08:00:00.123Z")
                #expect(object["node"] == "6", "a field wins over the context key")
                keys = Array(object.keys)
            } else {
                let pairs = try #require(Self.parseLogfmt(line))
                keys = pairs.map(\.key)
                #expect(pairs.first { $0.key == "msg" }?.value == "m")
            }
            #expect(Set(keys).count == keys.count, "duplicate keys: \(line)")
            #expect(keys.contains("a_b") && keys.contains("x_y") && keys.contains("_") && keys.contains("msg_") && keys.contains("ts_"))
            #expect(keys.allSatisfy { $0.count <= LogRecord.maxKeyLength + 2 })
        }
    }

    @Test func levelsAndTimestamps() {
        #expect(LogfmtFormatter().format(Self.record("m", level: .warning)).contains(" level=warning "))
        #expect(LogTime(seconds: 0, nanoseconds: 999_999_999).rfc3339 == "1970-01-01T00:00:00.999Z")
        #expect(LogTime(seconds: 951_782_400, nanoseconds: 5_000_000).rfc3339 == "2000-02-29T00:00:00.005Z")
        #expect(LogFormat(name: "JSON") == .json && LogFormat(name: "logfmt") == .logfmt && LogFormat(name: "xml") == nil)
    }

    /// One line, and no character that a terminal or a line-oriented reader would act on.
    static func expectOneSafeLine(_ line: String) throws {
        #expect(!line.unicodeScalars.contains { LogText.isControl($0) }, "\(line.debugDescription)")
        #expect(!line.contains("\n"))
    }

    /// A strict logfmt reader: `key=value` separated by one space, a value bare or double-quoted with JSON escapes.
    static func parseLogfmt(_ line: String) -> [(key: String, value: String)]? {
        var out: [(key: String, value: String)] = []
        var s = Substring(line).unicodeScalars[...]
        while !s.isEmpty {
            guard let eq = s.firstIndex(of: "=") else { return nil }
            let key = String(String.UnicodeScalarView(s[..<eq]))
            s = s[s.index(after: eq)...]
            var value = String.UnicodeScalarView()
            if s.first == "\"" {
                s = s.dropFirst()
                while true {
                    guard let c = s.first else { return nil }
                    s = s.dropFirst()
                    if c == "\"" { break }
                    if c != "\\" { value.append(c); continue }
                    guard let e = s.first else { return nil }
                    s = s.dropFirst()
                    switch e {
                    case "n": value.append("\n")
                    case "r": value.append("\r")
                    case "t": value.append("\t")
                    case "\"", "\\": value.append(e)
                    case "u":
                        guard s.count >= 4, let v = UInt32(String(String.UnicodeScalarView(s.prefix(4))), radix: 16),
                            let scalar = Unicode.Scalar(v)
                        else { return nil }
                        value.append(scalar)
                        s = s.dropFirst(4)
                    default: return nil
                    }
                }
            } else {
                let end = s.firstIndex(of: " ") ?? s.endIndex
                value.append(contentsOf: s[..<end])
                s = s[end...]
            }
            out.append((key, String(value)))
            if s.first == " " { s = s.dropFirst() } else if !s.isEmpty { return nil }
        }
        return out
    }
}
