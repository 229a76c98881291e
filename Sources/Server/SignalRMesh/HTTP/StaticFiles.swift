#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Maps URL paths to regular files under one directory (the web client), refusing anything that could
/// reach outside it.
///
/// Defence in depth, because a traversal bug leaks the whole disk:
/// 1. the URL path is checked lexically: no `.`-prefixed segment (so no `..`, `.`, or dotfiles such as
///    `.git`), no backslash, no control byte (NUL included), no `%` (the path arrives already decoded,
///    so a `%` left over means double encoding such as `%252e%252e`, which no file here needs);
/// 2. the joined path is resolved with `realpath(3)`, and the result must still lie inside the root's own
///    real path, which catches symlinks that point outside;
/// 3. only regular files are served: directories, sockets and devices are not.
struct StaticFiles: Sendable {
    /// The root as given.
    let root: String
    /// The root's real path (symlinks resolved), or nil if it doesn't exist: then nothing is served.
    private let realRoot: String?

    /// - Parameter root: the directory served at `/`.
    init(root: String) {
        self.root = root
        self.realRoot = Self.realPath(root)
    }

    /// The file for a decoded URL path (``HTTPRequest/path``) and its `Content-Type`. A path ending in `/`
    /// means that directory's `index.html`.
    /// - Returns: the file's real path, or nil when it is missing, not a regular file, or refused.
    func resolve(urlPath: String) -> (path: String, contentType: String)? {
        guard let realRoot, urlPath.utf8.first == UInt8(ascii: "/") else { return nil }
        for byte in urlPath.utf8 where byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "%") {
            return nil
        }
        var segments: [Substring] = []
        for segment in urlPath.split(separator: "/", omittingEmptySubsequences: true) {
            if segment.utf8.first == UInt8(ascii: ".") { return nil }
            segments.append(segment)
        }
        if urlPath.utf8.last == UInt8(ascii: "/") { segments.append("index.html") }

        var candidate = realRoot
        for segment in segments {
            candidate += "/"
            candidate += segment
        }
        guard let real = Self.realPath(candidate) else { return nil }
        // Compare against the root plus a slash, so that `/srv/www-other` doesn't pass for `/srv/www`.
        let prefix = realRoot.hasSuffix("/") ? realRoot : realRoot + "/"
        guard real.hasPrefix(prefix), Self.isRegularFile(real) else { return nil }
        return (real, Self.contentType(forPath: String(segments.last ?? "")))
    }

    /// The `Content-Type` for a file name, by extension (ASCII case-insensitive).
    /// Unknown extensions get `application/octet-stream`, which browsers won't render or run.
    static func contentType(forPath path: String) -> String {
        let name = path.split(separator: "/").last ?? ""
        guard let dot = name.lastIndex(of: ".") else { return "application/octet-stream" }
        switch name[name.index(after: dot)...].lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json", "map": return "application/json"
        case "txt": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "ico": return "image/x-icon"
        case "woff": return "font/woff"
        case "woff2": return "font/woff2"
        case "wasm": return "application/wasm"
        case "xml": return "application/xml"
        case "webmanifest": return "application/manifest+json"
        default: return "application/octet-stream"
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & S_IFMT == S_IFREG
    }
}
