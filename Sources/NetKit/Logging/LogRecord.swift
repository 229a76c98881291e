import Glibc

/// Wall-clock time of a log event, in UTC.
public struct LogTime: Sendable, Equatable {
    public var seconds: Int
    public var nanoseconds: Int

    public init(seconds: Int, nanoseconds: Int) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The time now (`CLOCK_REALTIME`).
    public static func now() -> LogTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return LogTime(seconds: Int(ts.tv_sec), nanoseconds: Int(ts.tv_nsec))
    }

    /// RFC 3339 in UTC with milliseconds: `2026-12-06T08:00:00.123Z`.
    public var rfc3339: String {
        var tmv = tm()
        var secs = time_t(seconds)
        gmtime_r(&secs, &tmv)
        var out = ""
        out.reserveCapacity(24)
        func digits(_ value: Int, _ width: Int) {
            var text = String(max(0, value))
            if text.count < width { text = String(repeating: "0", count: width - text.count) + text }
            out += text
        }
        digits(Int(tmv.tm_year) + 1900, 4)
        out += "-"
        digits(Int(tmv.tm_mon) + 1, 2)
        out += "-"
        digits(Int(tmv.tm_mday), 2)
        out += "T"
        digits(Int(tmv.tm_hour), 2)
        out += ":"
        digits(Int(tmv.tm_min), 2)
        out += ":"
        digits(Int(tmv.tm_sec), 2)
        out += "."
        digits(nanoseconds / 1_000_000, 3)
        out += "Z"
        return out
    }
}

/// One log event as a ``LogFormatter`` sees it: when, how severe, who logged it (its label and context), what
/// happened (a short message) and the event's own fields (ids, addresses, reasons).
public struct LogRecord: Sendable {
    public var time: LogTime
    public var level: LogLevel
    /// The logger's label (`mesh`, `hub`, `http`…).
    public var label: String
    public var message: String
    /// Who is logging: process-wide metadata (``LoggingSystem/metadata``) and the logger's own (`conn=` of a hub
    /// connection). Written before the message.
    public var context: [String: String]
    /// The event's fields. Written after the message; a field wins over a context key of the same name.
    public var fields: [String: String]

    public init(
        time: LogTime, level: LogLevel, label: String, message: String, context: [String: String] = [:],
        fields: [String: String] = [:]
    ) {
        self.time = time
        self.level = level
        self.label = label
        self.message = message
        self.context = context
        self.fields = fields
    }

    /// Keys every line starts with, in this order; `msg` follows the context.
    public static let reservedKeys: Set<String> = ["ts", "level", "logger", "msg"]

    /// Longest key kept, in characters.
    public static let maxKeyLength = 64

    /// Every key and value of the line, in the order written: `ts`, `level`, `logger`, the context (sorted by key),
    /// `msg`, the fields (sorted by key). Keys are made safe (``safeKey(_:)``; a key that clashes with a reserved one
    /// or with one already written gets a `_` appended); each value is cut to `maxValueScalars` Unicode scalars
    /// (``LogText/cut(_:limit:)``). Values are not escaped: that is the formatter's job.
    public func entries(maxValueScalars: Int) -> [(key: String, value: String)] {
        var out: [(key: String, value: String)] = [
            ("ts", time.rfc3339), ("level", "\(level)"), ("logger", LogText.cut(label, limit: maxValueScalars)),
        ]
        out.reserveCapacity(4 + context.count + fields.count)
        var used: Set<String> = LogRecord.reservedKeys
        func add(_ key: String, _ value: String) {
            var k = LogRecord.safeKey(key)
            while used.contains(k) { k += "_" }
            used.insert(k)
            out.append((k, LogText.cut(value, limit: maxValueScalars)))
        }
        for (k, v) in context.sorted(by: { $0.key < $1.key }) where fields[k] == nil { add(k, v) }
        out.append(("msg", LogText.cut(message, limit: maxValueScalars)))
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { add(k, v) }
        return out
    }

    /// `key` with every character outside `A-Z a-z 0-9 _ . -` replaced by `_`, cut to ``maxKeyLength``; `_` if empty.
    /// Keys come from the code, but a line must stay parseable whatever a caller put there.
    public static func safeKey(_ key: String) -> String {
        var out = ""
        for scalar in key.unicodeScalars.prefix(maxKeyLength) {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", ".", "-": out.unicodeScalars.append(scalar)
            default: out += "_"
            }
        }
        return out.isEmpty ? "_" : out
    }
}
