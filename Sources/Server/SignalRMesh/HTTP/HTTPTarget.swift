/// Splits and decodes a request-target (RFC 9112 3.2): origin-form `/p?q`, absolute-form
/// `http://host/p?q` and the asterisk form `*`. Authority-form is only for CONNECT, which this server
/// doesn't do, so it is rejected with the rest.
enum HTTPTarget {
    static func decode(_ target: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> (path: String, query: [(String, String)]) {
        guard !target.isEmpty else { throw .badRequest("empty request target") }
        var pathStart = 0
        if target[0] == UInt8(ascii: "*") {
            guard target.count == 1 else { throw .badRequest("invalid request target") }
            return ("*", [])
        } else if target[0] != UInt8(ascii: "/") {
            // absolute-form: scheme "://" authority [path-abempty] ["?" query]
            guard let schemeEnd = schemeLength(target) else { throw .badRequest("invalid request target") }
            pathStart = schemeEnd + 3
            while pathStart < target.count && target[pathStart] != UInt8(ascii: "/")
                && target[pathStart] != UInt8(ascii: "?")
            {
                pathStart += 1
            }
        }
        var queryStart = pathStart
        while queryStart < target.count && target[queryStart] != UInt8(ascii: "?") { queryStart += 1 }

        var path = percentDecode(UnsafeBufferPointer(rebasing: target[pathStart..<queryStart]), plusAsSpace: false)
        if path.isEmpty { path = "/" }
        var query: [(String, String)] = []
        if queryStart < target.count {
            query = decodeQuery(UnsafeBufferPointer(rebasing: target[(queryStart + 1)...]))
        }
        return (path, query)
    }

    /// Length of `http` / `https` when the target starts with `http://` or `https://` (any case).
    private static func schemeLength(_ target: UnsafeBufferPointer<UInt8>) -> Int? {
        for scheme in ["http", "https"] {
            let count = scheme.utf8.count
            guard target.count > count + 3 else { continue }
            var i = 0
            var matched = true
            for byte in scheme.utf8 {
                if HTTPSyntax.lower(target[i]) != byte {
                    matched = false
                    break
                }
                i += 1
            }
            if matched && target[count] == UInt8(ascii: ":") && target[count + 1] == UInt8(ascii: "/")
                && target[count + 2] == UInt8(ascii: "/")
            {
                return count
            }
        }
        return nil
    }

    /// `a=1&b=x+y&flag` → `[("a","1"), ("b","x y"), ("flag","")]`. Empty segments (`&&`) are skipped.
    static func decodeQuery(_ bytes: UnsafeBufferPointer<UInt8>) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var start = 0
        while start < bytes.count {
            var end = start
            var equals = -1
            while end < bytes.count && bytes[end] != UInt8(ascii: "&") {
                if equals < 0 && bytes[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if end > start {
                if equals >= 0 {
                    pairs.append(
                        (
                            percentDecode(UnsafeBufferPointer(rebasing: bytes[start..<equals]), plusAsSpace: true),
                            percentDecode(UnsafeBufferPointer(rebasing: bytes[(equals + 1)..<end]), plusAsSpace: true)
                        ))
                } else {
                    pairs.append((percentDecode(UnsafeBufferPointer(rebasing: bytes[start..<end]), plusAsSpace: true), ""))
                }
            }
            start = end + 1
        }
        return pairs
    }

    /// Decodes `%XX` escapes (and `+` when `plusAsSpace`). A `%` not followed by two hex digits is kept
    /// literally, as ASP.NET Core does; invalid UTF-8 after decoding becomes U+FFFD.
    static func percentDecode(_ bytes: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool) -> String {
        var needsWork = false
        for byte in bytes where byte == UInt8(ascii: "%") || (plusAsSpace && byte == UInt8(ascii: "+")) {
            needsWork = true
            break
        }
        if !needsWork { return String(decoding: bytes, as: UTF8.self) }

        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "%"), i + 2 < bytes.count, let high = HTTPSyntax.hexValue(bytes[i + 1]),
                let low = HTTPSyntax.hexValue(bytes[i + 2])
            {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(plusAsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
