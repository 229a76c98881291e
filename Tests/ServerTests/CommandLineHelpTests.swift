import Foundation
import Testing

@testable import SignalRMesh

/// `Server --help` documents every flag the parser takes, and takes every flag it documents.
@Suite struct CommandLineHelpTests {
    /// The flags `ServerCommandLine.parse` matches: the string literals of the `case` labels in its source (a flag
    /// added to the parser shows up here without anyone listing it).
    static func parsedFlags() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(
            contentsOf: root.appendingPathComponent("Sources/Server/SignalRMesh/App/CommandLine.swift"), encoding: .utf8)
        var flags: [String] = []
        for line in text.split(separator: "\n") {
            let label = line.trimmingCharacters(in: .whitespaces)
            guard label.hasPrefix("case \"-"), label.hasSuffix(":") else { continue }
            for part in label.dropFirst(5).dropLast().split(separator: ",") {
                let literal = part.trimmingCharacters(in: .whitespaces)
                guard literal.hasPrefix("\"-"), literal.hasSuffix("\""), literal.count > 3 else { continue }
                flags.append(String(literal.dropFirst().dropLast()))
            }
        }
        return flags
    }

    /// The flags the usage text documents: the leading `-x, --flag` of each option line.
    static func documentedFlags() -> [String] {
        var flags: [String] = []
        for line in ServerCommandLine.usage.split(separator: "\n") {
            for token in line.split(separator: " ") {
                guard token.hasPrefix("-") else { break }
                flags.append(String(token.hasSuffix(",") ? token.dropLast() : token))
            }
        }
        return flags
    }

    @Test func theSourceScanFindsTheParsersFlags() throws {
        let parsed = try Self.parsedFlags()
        #expect(parsed.count >= 25, "\(parsed)")
        #expect(Set(parsed).isSuperset(of: ["-h", "--help", "--node", "--peers", "--log-level", "--log-format", "--ws-echo"]))
        #expect(Set(parsed).count == parsed.count, "a flag matched twice: \(parsed)")
    }

    @Test func everyParsedFlagIsDocumented() throws {
        let documented = Set(Self.documentedFlags())
        let missing = try Self.parsedFlags().filter { !documented.contains($0) }
        #expect(missing.isEmpty, "Server --help does not document \(missing)")
    }

    @Test func everyDocumentedFlagIsParsed() throws {
        let documented = Self.documentedFlags()
        #expect(Set(documented) == Set(try Self.parsedFlags()))
        for flag in documented {
            do {
                _ = try ServerCommandLine.parse(["--node", "a", flag, "x"])
            } catch {
                #expect(!error.text.hasPrefix("unknown option"), "\(flag): \(error.text)")
            }
        }
    }

    @Test func logFormat() throws {
        func run(_ args: [String]) throws -> ServerCommandLine {
            guard case .run(let c) = try ServerCommandLine.parse(["--node", "a"] + args) else { throw UsageError("help") }
            return c
        }
        #expect(try run([]).logFormat == .logfmt)
        #expect(try run(["--log-format", "json"]).logFormat == .json)
        #expect(try run(["--log-format=JSON"]).logFormat == .json)
        #expect(try run(["--log-format", "logfmt"]).logFormat == .logfmt)
        #expect(throws: UsageError("--log-format must be logfmt or json; got 'xml'")) { try run(["--log-format", "xml"]) }
        #expect(throws: UsageError("--log-format needs a value")) { try run(["--log-format"]) }
        #expect(ServerCommandLine.usage.contains("--log-format FORMAT"))
    }
}
