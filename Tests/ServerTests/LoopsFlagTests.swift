import Testing

@testable import SignalRMesh

/// `--loops N|auto`: how many event loops a replica's client sockets are spread over.
@Suite struct LoopsFlagTests {
    func parse(_ args: [String]) throws -> ServerOptions {
        guard case .run(let c) = try ServerCommandLine.parse(["--node", "a"] + args) else { throw UsageError("help") }
        return c.options
    }

    @Test func loopsFlag() throws {
        #expect(try parse([]).loops == 1)
        #expect(try parse(["--loops", "2"]).loops == 2)
        #expect(try parse(["--loops=4"]).loops == 4)
        #expect(try parse(["--loops", "auto"]).loops == ServerOptions.loopsPerCore)
        #expect(ServerOptions.loopsPerCore >= 1)
        for bad in ["0", "-1", "257", "two", "", "1.5", "+2"] {
            #expect(throws: UsageError.self, "\(bad)") { try parse(["--loops", bad]) }
        }
        #expect(try parse(["--loops", "2"]) != parse([]))
        #expect(ServerCommandLine.usage.contains("--loops N|auto"))
    }
}
