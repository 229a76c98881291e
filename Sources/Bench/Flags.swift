import Foundation

/// A bad command line: printed as one `error: …` line, exit status 2.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// `--name value` / `--name=value` flags of one subcommand, checked against the names it knows.
struct Flags {
    let command: String
    private var values: [String: String] = [:]

    /// - Parameters:
    ///   - valued: flags that take a value.
    ///   - switches: flags without a value (present = "true").
    init(command: String, _ args: [String], valued: Set<String>, switches: Set<String> = []) throws(UsageError) {
        self.command = command
        var i = 0
        while i < args.count {
            let arg = args[i]
            guard arg.hasPrefix("--") else { throw UsageError("\(command): unexpected argument '\(arg)'") }
            var name = String(arg.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if switches.contains(name) {
                guard value == nil else { throw UsageError("\(command): --\(name) takes no value") }
                values[name] = "true"
            } else if valued.contains(name) {
                if value == nil {
                    i += 1
                    guard i < args.count else { throw UsageError("\(command): --\(name) needs a value") }
                    value = args[i]
                }
                values[name] = value
            } else {
                throw UsageError("\(command): unknown option --\(name) (see Bench --help)")
            }
            i += 1
        }
    }

    func has(_ name: String) -> Bool { values[name] != nil }

    func string(_ name: String, default def: String) -> String { values[name] ?? def }

    func optionalString(_ name: String) -> String? { values[name] }

    func int(_ name: String, default def: Int, min: Int = 1, max: Int = .max) throws(UsageError) -> Int {
        guard let text = values[name] else { return def }
        guard let v = Int(text), v >= min, v <= max else {
            throw UsageError("\(command): --\(name) must be an integer in \(min)...\(max == .max ? "" : String(max)), got '\(text)'")
        }
        return v
    }

    func double(_ name: String, default def: Double, min: Double = 0) throws(UsageError) -> Double {
        guard let text = values[name] else { return def }
        guard let v = Double(text), v.isFinite, v >= min else {
            throw UsageError("\(command): --\(name) must be a number ≥ \(min), got '\(text)'")
        }
        return v
    }

    func url(_ name: String, default def: String) throws(UsageError) -> HubURL {
        do {
            return try HubURL(parsing: values[name] ?? def)
        } catch {
            throw UsageError("\(command): --\(name): \(error.description)")
        }
    }
}

/// Output helpers: results go to stdout, progress to stderr (so a script can keep just the figures).
enum Out {
    static func progress(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func fail(_ text: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("error: \(text)\n".utf8))
        exit(code)
    }
}
