/// Writes one page of the Prometheus text exposition format, version 0.0.4: per metric family a `# HELP` and a
/// `# TYPE` line, then its samples (`name{label="value",…} value`), each line ending in `\n`.
///
/// ```swift
/// var page = PrometheusText()
/// page.family("signalr_mesh_peer_up", .gauge, help: "1 while the link to the peer is up.")
/// page.sample(["peer": "b"], 1)
/// let body = page.bytes
/// ```
///
/// Names are the caller's constants (checked in debug builds); label values and help texts may hold anything and
/// are escaped. A family is written once, with all its samples together, as the format requires.
struct PrometheusText {
    /// The `Content-Type` of a page.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    enum MetricType: String {
        case counter, gauge, histogram
    }

    /// Label names and values of one sample, in the order written.
    typealias Labels = KeyValuePairs<String, String>

    private var text = ""
    private var current: (name: String, type: MetricType)?
    private var written: Set<String> = []

    init() {}

    /// The page so far, as UTF-8.
    var bytes: [UInt8] { Array(text.utf8) }

    /// Starts the family `name`: its `# HELP` and `# TYPE` lines. Its samples follow.
    mutating func family(_ name: String, _ type: MetricType, help: String) {
        assert(Self.isValidMetricName(name), "bad metric name \(name)")
        assert(!written.contains(name), "metric family \(name) written twice")
        written.insert(name)
        current = (name, type)
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
    }

    /// A sample of the current counter or gauge.
    mutating func sample(_ labels: Labels, _ value: Double) {
        line(suffix: "", labels: Array(labels), value: Self.format(value))
    }

    /// A sample of the current counter or gauge, an integer written exactly.
    mutating func sample(_ labels: Labels, _ value: UInt64) {
        line(suffix: "", labels: Array(labels), value: String(value))
    }

    /// A sample of the current counter or gauge, an integer written exactly.
    mutating func sample(_ labels: Labels, _ value: Int) {
        line(suffix: "", labels: Array(labels), value: String(value))
    }

    /// An unlabelled sample of the current counter or gauge.
    mutating func sample(_ value: Double) { sample([:], value) }
    mutating func sample(_ value: UInt64) { sample([:], value) }
    mutating func sample(_ value: Int) { sample([:], value) }

    /// One histogram of the current histogram family: a `_bucket` line per upper bound (with its cumulative
    /// count, bounds ascending), the `+Inf` bucket (= `count`), `_sum` and `_count`.
    mutating func histogram(
        _ labels: Labels = [:], buckets: [(upperBound: Double, cumulativeCount: UInt64)], count: UInt64, sum: Double
    ) {
        assert(current?.type == .histogram, "histogram samples outside a histogram family")
        assert(zip(buckets, buckets.dropFirst()).allSatisfy { $0.upperBound < $1.upperBound && $0.cumulativeCount <= $1.cumulativeCount })
        assert(buckets.last.map { $0.cumulativeCount <= count } ?? true)
        let base = Array(labels)
        for bucket in buckets {
            line(suffix: "_bucket", labels: base + [("le", Self.format(bucket.upperBound))], value: String(bucket.cumulativeCount))
        }
        line(suffix: "_bucket", labels: base + [("le", "+Inf")], value: String(count))
        line(suffix: "_sum", labels: base, value: Self.format(sum))
        line(suffix: "_count", labels: base, value: String(count))
    }

    private mutating func line(suffix: String, labels: [(key: String, value: String)], value: String) {
        guard let current else {
            assertionFailure("a sample before its family")
            return
        }
        assert(suffix.isEmpty || current.type == .histogram)
        text += current.name
        text += suffix
        if !labels.isEmpty {
            text += "{"
            for (i, label) in labels.enumerated() {
                assert(Self.isValidLabelName(label.key), "bad label name \(label.key)")
                if i > 0 { text += "," }
                text += label.key
                text += "=\""
                text += Self.escapeLabelValue(label.value)
                text += "\""
            }
            text += "}"
        }
        text += " "
        text += value
        text += "\n"
    }

    // MARK: Syntax

    /// A label value inside its double quotes: `\` → `\\`, `"` → `\"`, line feed → `\n`.
    static func escapeLabelValue(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 0x0A }) else {
            return value
        }
        var out = ""
        for ch in value.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// A `# HELP` text: `\` → `\\`, line feed → `\n` (quotes stay).
    static func escapeHelp(_ help: String) -> String {
        var out = ""
        for ch in help.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// A sample value or `le` bound: `+Inf`, `-Inf`, `NaN`, whole numbers without a fraction, others in Swift's
    /// shortest round-trip form (`0.000256`, `2.5e-07`), which Prometheus parses as Go's `ParseFloat` does.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return "\(value)"
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isValidMetricName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !isDigit(first) else { return false }
        return name.utf8.allSatisfy { isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":") }
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
    static func isValidLabelName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !isDigit(first), !name.hasPrefix("__") else { return false }
        return name.utf8.allSatisfy { isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}
