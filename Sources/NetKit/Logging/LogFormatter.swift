/// Turns a ``LogRecord`` into one line of text (without the newline). Whatever the record holds, the line has no
/// control character and no line break, and every value is cut to a bounded length.
public protocol LogFormatter: Sendable {
    func format(_ record: LogRecord) -> String
}

/// The line formats a process can log in (`--log-format`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// `key=value` pairs, values quoted when they need it (``LogfmtFormatter``).
    case logfmt
    /// One JSON object per line (``JSONLogFormatter``).
    case json

    /// The format named `name` (`logfmt`, `json`; any case).
    public init?(name: String) {
        guard let format = LogFormat(rawValue: name.lowercased()) else { return nil }
        self = format
    }

    /// The formatter that writes this format, with its default limits.
    public var formatter: any LogFormatter {
        switch self {
        case .logfmt: return LogfmtFormatter()
        case .json: return JSONLogFormatter()
        }
    }
}
