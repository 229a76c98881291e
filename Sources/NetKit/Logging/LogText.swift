/// Makes text that came from outside (a peer's node id, a client's Origin header) safe to put in a log line.
///
/// Such text may hold newlines (forged log lines), terminal escape sequences, or kilobytes of junk. `untrusted`
/// escapes every control character and caps the length, so one log line stays one short line whatever was sent.
public enum LogText {
    /// Longest untrusted value kept in a log line, in Unicode scalars; the rest is counted, not shown.
    public static let defaultLimit = 64

    /// `text` quoted, with control characters escaped (`\n`, `\u{1B}`…) and at most `limit` scalars kept:
    /// `"abc"`, or `"abcd…"(+120 bytes)` when cut.
    public static func untrusted(_ text: some StringProtocol, limit: Int = defaultLimit) -> String {
        var out = "\""
        var kept = 0
        var consumedBytes = 0
        for scalar in text.unicodeScalars {
            if kept == limit {
                let rest = text.utf8.count - consumedBytes
                return out + "…\"(+\(rest) bytes)"
            }
            appendEscaped(scalar, to: &out, escapingQuotes: true)
            kept += 1
            consumedBytes += UTF8.width(scalar)
        }
        return out + "\""
    }

    /// `line` with every control character escaped (C0, DEL and C1): the logger's last line of defence, so no
    /// message can span two lines or drive a terminal, whatever a caller forgot to pass through ``untrusted(_:limit:)``.
    public static func escapingControls(_ line: String) -> String {
        guard line.unicodeScalars.contains(where: isControl) else { return line }
        var out = ""
        out.reserveCapacity(line.utf8.count + 8)
        for scalar in line.unicodeScalars { appendEscaped(scalar, to: &out, escapingQuotes: false) }
        return out
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    private static func appendEscaped(_ scalar: Unicode.Scalar, to out: inout String, escapingQuotes: Bool) {
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\\" where escapingQuotes: out += "\\\\"
        case "\"" where escapingQuotes: out += "\\\""
        default:
            if isControl(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
}
