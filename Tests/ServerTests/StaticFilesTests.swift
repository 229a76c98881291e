import Foundation
import Testing

@testable import SignalRMesh

/// A throwaway tree:
/// ```
/// base/secret.txt              outside the root
/// base/outside/other.txt
/// base/www-evil/file.txt       a sibling whose name starts with the root's name
/// base/www/                    the root
///     index.html app.js style.CSS .env sub/index.html sub/page.css dir/ (empty)
///     escape.txt -> ../secret.txt      escape-abs.txt -> base/secret.txt
///     escape-dir -> ../outside         prefix.txt -> ../www-evil/file.txt
///     inside.js -> app.js              (stays inside: allowed)
/// base/rootlink -> www
/// ```
private final class Tree {
    let base: String
    var root: String { base + "/www" }

    init() throws {
        base = NSTemporaryDirectory() + "staticfiles-" + UUID().uuidString
        let fm = FileManager.default
        for dir in ["outside", "www-evil", "www/sub", "www/dir"] {
            try fm.createDirectory(atPath: base + "/" + dir, withIntermediateDirectories: true)
        }
        let files = [
            "secret.txt": "secret", "outside/other.txt": "other", "www-evil/file.txt": "evil",
            "www/index.html": "<h1>hi</h1>", "www/app.js": "let a", "www/style.CSS": "b{}", "www/.env": "KEY=1",
            "www/sub/index.html": "sub", "www/sub/page.css": "p{}",
        ]
        for (path, text) in files {
            try Data(text.utf8).write(to: URL(fileURLWithPath: base + "/" + path))
        }
        let links = [
            "www/escape.txt": "../secret.txt", "www/escape-abs.txt": base + "/secret.txt", "www/escape-dir": "../outside",
            "www/prefix.txt": "../www-evil/file.txt", "www/inside.js": "app.js", "rootlink": "www",
        ]
        for (path, destination) in links {
            try fm.createSymbolicLink(atPath: base + "/" + path, withDestinationPath: destination)
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: base)
    }
}

@Suite("Static files")
struct StaticFilesTests {
    @Test func servesFilesWithTheirTypes() throws {
        let tree = try Tree()
        let files = StaticFiles(root: tree.root)
        let real = try #require(files.resolve(urlPath: "/")).path
        #expect(real.hasSuffix("/www/index.html"))
        #expect(try String(contentsOfFile: real, encoding: .utf8) == "<h1>hi</h1>")
        #expect(files.resolve(urlPath: "/")?.contentType == "text/html; charset=utf-8")
        #expect(files.resolve(urlPath: "/index.html")?.path == real)
        #expect(files.resolve(urlPath: "/app.js")?.contentType == "text/javascript; charset=utf-8")
        #expect(files.resolve(urlPath: "/style.CSS")?.contentType == "text/css; charset=utf-8")
        #expect(files.resolve(urlPath: "/sub/")?.path.hasSuffix("/www/sub/index.html") == true)
        #expect(files.resolve(urlPath: "/sub/page.css")?.path.hasSuffix("/www/sub/page.css") == true)
        #expect(files.resolve(urlPath: "//sub//page.css")?.path.hasSuffix("/www/sub/page.css") == true)
        // A symlink that stays inside the root is fine.
        #expect(files.resolve(urlPath: "/inside.js")?.path.hasSuffix("/www/app.js") == true)
    }

    @Test func rootGivenThroughASymlink() throws {
        let tree = try Tree()
        let files = StaticFiles(root: tree.base + "/rootlink")
        #expect(files.resolve(urlPath: "/app.js") != nil)
        #expect(files.resolve(urlPath: "/escape.txt") == nil)
    }

    @Test func missingAndNonRegular() throws {
        let tree = try Tree()
        let files = StaticFiles(root: tree.root)
        #expect(files.resolve(urlPath: "/missing.html") == nil)
        #expect(files.resolve(urlPath: "/sub") == nil)  // a directory
        #expect(files.resolve(urlPath: "/dir/") == nil)  // directory without an index
        #expect(files.resolve(urlPath: "/dir") == nil)
        #expect(files.resolve(urlPath: "/app.js/") == nil)
        #expect(files.resolve(urlPath: "") == nil)
        #expect(files.resolve(urlPath: "app.js") == nil)  // not absolute
        #expect(StaticFiles(root: tree.base + "/nope").resolve(urlPath: "/") == nil)
    }

    @Test(arguments: [
        "/../secret.txt", "/sub/../../secret.txt", "/sub/../index.html", "/./index.html", "/..", "/.",
        "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/%252e%252e/secret.txt", "/..%2fsecret.txt", "/sub%2f..%2f..%2fsecret.txt",
        "/sub\\..\\..\\secret.txt", "\\..\\secret.txt", "/index.html\u{0}.png", "/app.js\u{0}", "/\u{1}app.js",
        "/escape.txt", "/escape-abs.txt", "/escape-dir/other.txt", "/escape-dir/", "/prefix.txt", "/.env",
        "/../www/index.html", "/../www-evil/file.txt",
    ])
    func traversalAttemptsAreRefused(path: String) throws {
        let tree = try Tree()
        #expect(StaticFiles(root: tree.root).resolve(urlPath: path) == nil)
    }

    @Test func decodedRequestPathsAreRefusedToo() throws {
        let tree = try Tree()
        let files = StaticFiles(root: tree.root)
        for target in ["/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt", "/..%5csecret.txt", "/%00"] {
            var parser = HTTPRequestParser()
            parser.append(Array("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
            let request = try #require(try parser.nextRequest())
            #expect(files.resolve(urlPath: request.path) == nil, "\(target) -> \(request.path)")
        }
        var parser = HTTPRequestParser()
        parser.append(Array("GET /sub/page%2Ecss?v=3 HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        let request = try #require(try parser.nextRequest())
        #expect(files.resolve(urlPath: request.path) != nil)
    }

    @Test func contentTypes() {
        let cases = [
            ("a.html", "text/html; charset=utf-8"), ("A.HTM", "text/html; charset=utf-8"),
            ("x/y.css", "text/css; charset=utf-8"), ("signalr.min.js", "text/javascript; charset=utf-8"),
            ("m.mjs", "text/javascript; charset=utf-8"), ("d.json", "application/json"),
            ("signalr.js.map", "application/json"), ("i.svg", "image/svg+xml"), ("i.png", "image/png"),
            ("favicon.ico", "image/x-icon"), ("r.txt", "text/plain; charset=utf-8"), ("f.woff2", "font/woff2"),
            ("f.woff", "font/woff"), ("p.jpeg", "image/jpeg"), ("x.wasm", "application/wasm"),
            ("noext", "application/octet-stream"), ("a.exe", "application/octet-stream"),
            ("dir.d/noext", "application/octet-stream"), ("", "application/octet-stream"),
        ]
        for (path, type) in cases {
            #expect(StaticFiles.contentType(forPath: path) == type, "\(path)")
        }
    }
}
