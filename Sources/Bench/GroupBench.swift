import Foundation
import Glibc
import NetKit
import Synchronization

/// `Bench groups`: group fan-out over the mesh. G groups of M members each, the members spread round-robin over
/// the replicas' `/demoHub`; every member joins its group, then random members send `SendToGroup` to their group
/// at a fixed rate. Measures deliveries per second, latency from send to each delivery, whether every member got
/// every message of its group exactly once, and the mesh DATA frames each message cost (from `/api/mesh` before
/// and after), next to the replicas that had members for the group. The same connections then send `SendToAll`
/// for a latency to compare with.
///
/// Connection `c` is member `c % M` of group `c / M` (`g<index>`), on replica `c % R` and client loop `c % L`.
/// Each message carries its id and send time (`M|<id:10>|<sentNanos:20>|xxx…`, `A|…` for `SendToAll`), so the
/// receiving loop reads both from the payload; the plan (group and sender of each message) is fixed before the
/// run and shared read-only, which is how a delivery is checked against the member's group.
enum GroupBench {
    static let usage = """
        Bench groups [--urls URL,URL,URL | --server PATH] [--groups 1000] [--members 10] [--messages 10000]
                     [--rate 1000] [--all-messages 10] [--all-rate R] [--size 64] [--loops 2] [--window 256]
                     [--seed N] [--status-max-age 1] [--timeout 120]
            --groups × --members hub connections (at most 19 000: descriptor limit) spread round-robin over the
            replicas' /demoHub (default the three local ones on 5001-5003; --server PATH starts three replicas of
            that Server binary on free ports instead, and stops them at the end). All join their group (every
            JoinGroup completion awaited), then random members send --messages SendToGroup to their own group at
            --rate msg/s in all, then random connections send --all-messages SendToAll at --all-rate msg/s
            (default: the group phase's deliveries/s, rate × members / connections). Prints
            deliveries/s, latency send → each delivery, lost/duplicated/misrouted deliveries, and mesh DATA frames
            per message (sum of the replicas' dataReceived deltas in /api/mesh) next to the expected number
            (replicas other than the sender's with members of the group). Counters are read after a quiet
            --status-max-age (the replicas' cache of /api/mesh) plus 0.3 s.
        """

    static func run(_ args: [String]) throws(UsageError) {
        let flags = try Flags(
            command: "groups", args,
            valued: [
                "urls", "server", "groups", "members", "messages", "rate", "all-messages", "all-rate", "size", "loops",
                "window", "seed", "status-max-age", "timeout",
            ])
        let groups = try flags.int("groups", default: 1000, max: 19_000)
        let members = try flags.int("members", default: 10, max: 19_000)
        let messages = try flags.int("messages", default: 10_000, max: 10_000_000)
        let rate = try flags.int("rate", default: 1000, max: 1_000_000)
        let allMessages = try flags.int("all-messages", default: 10, min: 0, max: 10_000)
        let size = try flags.int("size", default: 64, min: LatencyBench.headerBytes, max: 16_000)
        let loopCount = try flags.int("loops", default: 2, max: 16)
        let window = try flags.int("window", default: 256, max: 100_000)
        let seed = UInt64(try flags.int("seed", default: Int.random(in: 1...999_999), min: 0))
        let timeout = try flags.double("timeout", default: 120, min: 5)
        guard timeout <= 3600 else { throw UsageError("groups: --timeout ≤ 3600") }
        let connections = groups * members
        // The same deliveries per second as the group phase, unless told otherwise.
        let allRate = try flags.double("all-rate", default: Double(rate) * Double(members) / Double(connections), min: 0.01)
        guard allRate <= 100_000 else { throw UsageError("groups: --all-rate ≤ 100000") }
        guard Double(messages - 1) / Double(rate) <= 3600, Double(max(allMessages - 1, 0)) / allRate <= 600 else {
            throw UsageError("groups: the group phase may last at most 3600 s and the SendToAll phase 600 s (fewer messages or a higher rate)")
        }
        guard connections <= 19_000 else {
            throw UsageError("groups: --groups × --members is \(connections), at most 19 000 (this process holds every client socket)")
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, UInt64(connections) + 100 > UInt64(limit.rlim_cur) {
            throw UsageError("groups: \(connections) connections need more than the \(limit.rlim_cur) descriptors this process may open")
        }

        var replicas: BenchReplicas?
        let urls: [HubURL]
        var statusMaxAge = try flags.double("status-max-age", default: 1, min: 0)
        guard statusMaxAge <= 60 else { throw UsageError("groups: --status-max-age ≤ 60") }
        if let server = flags.optionalString("server") {
            guard !flags.has("urls") else { throw UsageError("groups: give --urls or --server, not both") }
            guard FileManager.default.isExecutableFile(atPath: server) else {
                throw UsageError("groups: --server: '\(server)' is not an executable file")
            }
            statusMaxAge = 0.05
            Out.progress("starting 3 replicas of \(server)…")
            do {
                let started = try BenchReplicas.start(server: server, count: 3, statusMaxAge: statusMaxAge)
                replicas = started
                urls = started.hubURLs
            } catch {
                Out.fail("replicas: \(error.description)")
            }
        } else {
            var list: [HubURL] = []
            for text in flags.string(
                "urls", default: "http://127.0.0.1:5001/demoHub,http://127.0.0.1:5002/demoHub,http://127.0.0.1:5003/demoHub"
            ).split(separator: ",") {
                do { list.append(try HubURL(parsing: String(text))) } catch { throw UsageError("groups: --urls: \(error)") }
            }
            guard !list.isEmpty, list.count <= 64 else { throw UsageError("groups: --urls takes 1 to 64 hub URLs") }
            urls = list
        }

        let plan = GroupPlan(
            groups: groups, members: members, replicas: urls.count, messages: messages, allMessages: allMessages,
            seed: seed)
        let bench = GroupRun(
            urls: urls, plan: plan, loopCount: loopCount, window: window, size: size, rate: rate, allRate: allRate,
            statusMaxAge: statusMaxAge, timeout: timeout, seed: seed)
        let outcome = bench.run()
        replicas?.stop()
        switch outcome {
        case .failure(let reason): Out.fail(reason.description)
        case .success(let lines): for line in lines { Out.line(line) }
        }
    }
}
