/// Makes text that came from outside (a peer's node id, a client's Origin header) safe to put in a log line.
///
/// Such text may hold newlines (forged log lines), terminal escape sequences, or kilobytes of junk. As a field of
/// its own it goes through ``cut(_:limit:)`` (the ``LogFormatter`` escapes every value); quoted inside a longer
/// text (a handshake's failure reason) through ``untrusted(_:limit:)``, which escapes it too. Either way one log
/// line stays one short line whatever was sent.
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

    /// `text` as is when it has at most `limit` Unicode scalars, else its first `limit` followed by `…(+N bytes)`
    /// (N: the UTF-8 bytes left out). Nothing is escaped: a ``LogFormatter`` does that for every value.
    public static func cut(_ text: some StringProtocol, limit: Int = defaultLimit) -> String {
        var kept = 0
        var keptBytes = 0
        for scalar in text.unicodeScalars {
            if kept == limit {
                var out = ""
                out.unicodeScalars.append(contentsOf: text.unicodeScalars.prefix(limit))
                out += "…(+\(text.utf8.count - keptBytes) bytes)"
                return out
            }
            kept += 1
            keptBytes += UTF8.width(scalar)
        }
        return String(text)
    }

    /// Characters never written as they are: C0 and C1 controls, DEL, the Unicode line and paragraph separators
    /// (line breaks for some readers), the bidirectional marks, overrides and isolates (they reorder what a terminal
    /// shows, so a line could read differently from what it holds), and the invisible zero-width space and byte
    /// order mark.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x20 || (0x7F...0x9F).contains(v) { return true }
        guard v >= 0x200B else { return false }
        return v == 0x200B || v == 0x200E || v == 0x200F || v == 0x2028 || v == 0x2029 || (0x202A...0x202E).contains(v)
            || (0x2066...0x2069).contains(v) || v == 0xFEFF
    }

    /// Appends `value` for the inside of a double-quoted string, as JSON writes it (so logfmt and JSON lines share
    /// it): `"` and `\` escaped, `\n` `\r` `\t`, every other ``isControl(_:)`` character as `\uXXXX`.
    public static func appendQuotedContent(_ value: String, to out: inout String) {
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if isControl(scalar) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
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
