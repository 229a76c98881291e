/// Writes a record as logfmt: `ts=2026-12-06T08:00:00.123Z level=info logger=mesh node=a msg="link up" peer=b`.
///
/// Keys come in the order of ``LogRecord/entries(maxValueScalars:)``. A value is written bare unless it is empty or
/// holds a space (any Unicode white space), `=`, `"`, `\` or a control character; then it is double-quoted with `"`
/// and `\` escaped, `\n` `\r` `\t`, and other controls as `\uXXXX` (the escapes of a JSON string).
public struct LogfmtFormatter: LogFormatter {
    /// Longest value kept, in Unicode scalars (``LogText/cut(_:limit:)``).
    public var maxValueScalars: Int

    public init(maxValueScalars: Int = 1024) {
        precondition(maxValueScalars >= 1)
        self.maxValueScalars = maxValueScalars
    }

    public func format(_ record: LogRecord) -> String {
        var out = ""
        out.reserveCapacity(160)
        for (i, entry) in record.entries(maxValueScalars: maxValueScalars).enumerated() {
            if i > 0 { out += " " }
            out += entry.key
            out += "="
            Self.appendValue(entry.value, to: &out)
        }
        return out
    }

    /// `value` bare or quoted, as logfmt needs.
    public static func appendValue(_ value: String, to out: inout String) {
        if needsQuotes(value) {
            out += "\""
            LogText.appendQuotedContent(value, to: &out)
            out += "\""
        } else {
            out += value
        }
    }

    static func needsQuotes(_ value: String) -> Bool {
        if value.isEmpty { return true }
        for scalar in value.unicodeScalars {
            switch scalar {
            case " ", "=", "\"", "\\": return true
            default:
                if scalar.value < 0x80 {
                    if scalar.value < 0x21 || scalar.value == 0x7F { return true }
                } else if LogText.isControl(scalar) || scalar.properties.isWhitespace {
                    return true
                }
            }
        }
        return false
    }
}
