/// Writes a record as one JSON object: `{"ts":"2026-12-06T08:00:00.123Z","level":"info","logger":"mesh","node":"a",
/// "msg":"link up","peer":"b"}`. Same keys, order and value limit as ``LogfmtFormatter``; every value is a string,
/// escaped as RFC 8259 requires, and the line separators and bidirectional controls (``LogText/isControl(_:)``) are
/// escaped too, so the line is one line in any reader.
public struct JSONLogFormatter: LogFormatter {
    /// Longest value kept, in Unicode scalars (``LogText/cut(_:limit:)``).
    public var maxValueScalars: Int

    public init(maxValueScalars: Int = 1024) {
        precondition(maxValueScalars >= 1)
        self.maxValueScalars = maxValueScalars
    }

    public func format(_ record: LogRecord) -> String {
        var out = "{"
        out.reserveCapacity(200)
        for (i, entry) in record.entries(maxValueScalars: maxValueScalars).enumerated() {
            if i > 0 { out += "," }
            out += "\""
            LogText.appendQuotedContent(entry.key, to: &out)
            out += "\":\""
            LogText.appendQuotedContent(entry.value, to: &out)
            out += "\""
        }
        out += "}"
        return out
    }
}
