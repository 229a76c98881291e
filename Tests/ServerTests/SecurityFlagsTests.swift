import Testing

@testable import SignalRMesh

/// The flags of the limits added for issue 9, and their defaults.
@Suite struct SecurityFlagsTests {
    func run(_ args: [String]) throws -> ServerCommandLine {
        guard case .run(let c) = try ServerCommandLine.parse(["--node", "a"] + args) else { throw UsageError("help") }
        return c
    }

    @Test func negotiationCaps() throws {
        let d = try run([])
        #expect(d.options.maxNegotiationsPerAddress == 10_000 && d.options.maxNegotiations == 100_000)
        let c = try run(["--max-negotiations-per-address", "7", "--max-negotiations=70"])
        #expect(c.options.maxNegotiationsPerAddress == 7 && c.options.maxNegotiations == 70)
        for bad in ["0", "-1", "+5", "1e3", "x", "10000001"] {
            #expect(throws: UsageError.self, "\(bad)") { try run(["--max-negotiations", bad]) }
        }
        #expect(ServerCommandLine.usage.contains("--max-negotiations-per-address N"))
    }
}
