/// Integer reading for number literals that are already known to follow the JSON grammar.
enum JSONNumber {
    /// The value of `-?digits` if it fits in `Int64`; nil for fractions, exponents and overflow.
    static func integer(_ text: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        let n = text.count
        var negative = false
        if i < n && text[i] == JSONByte.minus {
            negative = true
            i += 1
        }
        guard i < n else { return nil }
        // Accumulate negatively so that Int64.min parses without overflow.
        var value: Int64 = 0
        while i < n {
            let b = text[i]
            guard b >= JSONByte.zero && b <= JSONByte.nine else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(Int64(b - JSONByte.zero))
            if o1 || o2 { return nil }
            value = s
            i += 1
        }
        if negative { return value }
        return value == .min ? nil : -value
    }
}

// MARK: - Writer
