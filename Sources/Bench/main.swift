import Foundation
import NetKit

/// `Bench`: load client and benchmarks for the SignalR mesh (not a test: figures, not verdicts).
enum BenchMain {
    static let usage = """
        Usage: Bench <command> [options]

        Commands:
        \(LatencyBench.usage)

        \(FloorBench.usage)

        \(LinkBench.usage)

        \(ConnectionsBench.usage)

        \(BroadcastBench.usage)

        \(GroupBench.usage)

        \(CryptoBench.usage)

          Bench selftest
            Checks the load client's own WebSocket/HTTP parsers (every split of the input gives the same output).

        Internal (spawned by the commands above): floor-relay, link-node, conn-worker.
        Results go to stdout, progress to stderr. Bad options: one `error:` line, exit status 2.
        """

    static func main() {
        ignoreSIGPIPE()
        LoggingSystem.bootstrap(level: .warning)
        let args = Array(CommandLine.arguments.dropFirst())
        guard let command = args.first else {
            print(usage)
            exit(2)
        }
        let rest = Array(args.dropFirst())
        do {
            switch command {
            case "-h", "--help", "help": print(usage)
            case "latency": try LatencyBench.run(rest)
            case "floor": try FloorBench.run(rest)
            case "floor-relay": try FloorBench.relay(rest)
            case "link": try LinkBench.run(rest)
            case "link-node": try LinkBench.node(rest)
            case "connections": try ConnectionsBench.run(rest)
            case "conn-worker": try ConnectionsBench.worker(rest)
            case "broadcast": try BroadcastBench.run(rest)
            case "groups": try GroupBench.run(rest)
            case "crypto": try CryptoBench.run(rest)
            case "selftest": exit(SelfTest.run() ? 0 : 1)
            default: throw UsageError("unknown command '\(command)' (see Bench --help)")
            }
        } catch {
            Out.fail("\(error)", code: 2)
        }
        exit(0)
    }
}

BenchMain.main()
