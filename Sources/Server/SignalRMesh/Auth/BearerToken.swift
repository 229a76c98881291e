/// Where a hub request carries its bearer token, and how to keep that token out of logs.
///
/// Browsers cannot set headers on a WebSocket or EventSource request, so SignalR clients send the token twice
/// over: as `Authorization: Bearer <token>` where they can (negotiate, long polling) and as the `access_token`
/// query parameter where they cannot. Both places are read on every hub request, negotiate included.
struct BearerToken {
    /// The query parameter SignalR clients put the token in.
    static let queryName = "access_token"

    /// What replaces a token in a logged request target.
    static let redacted = "***"

    /// The token of a request: from an `Authorization: Bearer <token>` header first, else from the `access_token`
    /// query parameter.
    ///
    /// The scheme is matched ASCII case-insensitively (`Bearer`, `bearer`, `BEARER`) and is followed by one or more
    /// spaces or tabs; whitespace around the token is dropped. A header with another scheme (`Basic …`) or an empty
    /// token is no token, and the query is tried next. The token itself is not checked here (``JWTValidator`` does).
    /// - Parameters:
    ///   - authorization: the `Authorization` header value, if the request has one.
    ///   - accessToken: the `access_token` query value, already percent-decoded (`HTTPRequest.queryValue` does it).
    /// - Returns: the token, or nil when neither place holds a non-empty one.
    static func extract(authorization: String?, query accessToken: String?) -> String? {
        if let authorization, let token = fromAuthorization(authorization) { return token }
        if let accessToken {
            let token = trimmed(Substring(accessToken))
            if !token.isEmpty { return String(token) }
        }
        return nil
    }

    /// The credentials of a `Bearer` authorization value, or nil.
    private static func fromAuthorization(_ value: String) -> String? {
        let value = trimmed(Substring(value))
        let scheme = "bearer"
        guard value.utf8.count > scheme.utf8.count else { return nil }
        let schemeEnd = value.utf8.index(value.utf8.startIndex, offsetBy: scheme.utf8.count)
        guard value.utf8[..<schemeEnd].elementsEqual(scheme.utf8, by: { HTTPSyntax.lower($0) == $1 }) else {
            return nil
        }
        let rest = value[schemeEnd...]
        // "Bearerabc" is another scheme, not a bearer token.
        guard let first = rest.utf8.first, HTTPSyntax.isOWS(first) else { return nil }
        let token = trimmed(rest)
        return token.isEmpty ? nil : String(token)
    }

    /// Drops spaces and tabs at both ends, byte by byte: dropping `Character`s would also take a combining mark
    /// that follows the space (" \u{346}x" is one grapheme), changing the token (the jwt fuzz target found it).
    private static func trimmed(_ s: Substring) -> Substring {
        let utf8 = s.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, HTTPSyntax.isOWS(utf8[start]) { start = utf8.index(after: start) }
        while start < end {
            let before = utf8.index(before: end)
            guard HTTPSyntax.isOWS(utf8[before]) else { break }
            end = before
        }
        // Spaces and tabs are ASCII, so both ends fall on scalar boundaries.
        return s[start..<end]
    }

    /// `target` (a request target or URL) with the value of every `access_token` query parameter replaced by
    /// `***`, for logging.
    ///
    /// The query is split exactly as the HTTP parser splits it (`HTTPTarget.decode`): everything after the first
    /// `?`, in `&`-separated pairs, keys percent-decoded (with `+` as a space) and compared ASCII case-insensitively.
    /// So `Access_Token=` and `%61ccess_token=` are redacted too, and a `#` hides nothing: request targets have no
    /// fragment, and the parser would read `?x=1#&access_token=t` as carrying a token. Everything else is kept
    /// byte for byte.
    static func redactingAccessToken(_ target: String) -> String {
        let bytes = Array(target.utf8)
        guard let question = bytes.firstIndex(of: UInt8(ascii: "?")) else { return target }
        var out = Array(bytes[...question])
        out.reserveCapacity(bytes.count)
        var changed = false
        var start = question + 1
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "&") { end += 1 }
            let pair = bytes[start..<end]
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")), isAccessTokenKey(bytes[start..<equals]) {
                out.append(contentsOf: bytes[start...equals])
                out.append(contentsOf: redacted.utf8)
                changed = true
            } else {
                out.append(contentsOf: pair)
            }
            if end < bytes.count { out.append(UInt8(ascii: "&")) }
            start = end + 1
        }
        return changed ? String(decoding: out, as: UTF8.self) : target
    }

    private static func isAccessTokenKey(_ key: ArraySlice<UInt8>) -> Bool {
        let decoded = key.withUnsafeBufferPointer { HTTPTarget.percentDecode($0, plusAsSpace: true) }
        return HTTPSyntax.nameEquals(decoded, queryName)
    }
}
