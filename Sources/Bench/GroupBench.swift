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

/// Which group and sender each message has: fixed before the run from `--seed`, read by every loop.
struct GroupPlan: Sendable {
    let groups: Int
    let members: Int
    let replicas: Int
    /// Group of each `SendToGroup` message.
    let groupOf: [Int32]
    /// Sending connection of each `SendToGroup` message (a member of that group).
    let senderOf: [Int32]
    /// Ids of the messages sent to each group, ascending.
    let messagesOf: [[Int32]]
    /// Sending connection of each `SendToAll` message.
    let allSenderOf: [Int32]

    init(groups: Int, members: Int, replicas: Int, messages: Int, allMessages: Int, seed: UInt64) {
        self.groups = groups
        self.members = members
        self.replicas = replicas
        var random = SplitMix64(seed: seed)
        var groupOf = [Int32](repeating: 0, count: messages)
        var senderOf = [Int32](repeating: 0, count: messages)
        var messagesOf = [[Int32]](repeating: [], count: groups)
        for i in 0..<messages {
            let g = random.below(groups)
            groupOf[i] = Int32(g)
            senderOf[i] = Int32(g * members + random.below(members))
            messagesOf[g].append(Int32(i))
        }
        self.groupOf = groupOf
        self.senderOf = senderOf
        self.messagesOf = messagesOf
        let connections = groups * members
        allSenderOf = (0..<allMessages).map { _ in Int32(random.below(connections)) }
    }

    var connections: Int { groups * members }

    func replica(ofConnection c: Int) -> Int { c % replicas }

    /// Replicas other than the sender's with members of the message's group: the DATA frames routing by
    /// interest needs (flooding sends `replicas − 1`).
    func otherReplicasWithMembers(message i: Int) -> Int {
        let g = Int(groupOf[i])
        var seen = Set<Int>()
        for k in 0..<members { seen.insert(replica(ofConnection: g * members + k)) }
        seen.remove(replica(ofConnection: Int(senderOf[i])))
        return seen.count
    }
}

/// A small seeded generator (SplitMix64), so that `--seed` replays the same plan.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<bound` (bound ≥ 1; the modulo bias is negligible for the sizes used here).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// The phases of one `Bench groups` run, driven from the main thread; the clients live on `loopCount` loops.
final class GroupRun {
    let urls: [HubURL]
    let plan: GroupPlan
    let loopCount: Int
    let window: Int
    let size: Int
    let rate: Int
    let allRate: Double
    let statusMaxAge: Double
    let timeout: Double
    let seed: UInt64
    private var loops: [EventLoop] = []
    private var shares: [GroupLoopShare] = []

    init(
        urls: [HubURL], plan: GroupPlan, loopCount: Int, window: Int, size: Int, rate: Int, allRate: Double,
        statusMaxAge: Double, timeout: Double, seed: UInt64
    ) {
        self.urls = urls
        self.plan = plan
        self.loopCount = loopCount
        self.window = window
        self.size = size
        self.rate = rate
        self.allRate = allRate
        self.statusMaxAge = statusMaxAge
        self.timeout = timeout
        self.seed = seed
    }

    /// The results block, or why the run stopped. Closes every client and stops the loops either way.
    func run() -> Result<[String], GroupRunFailure> {
        defer { tearDown() }
        return measure()
    }

    private func measure() -> Result<[String], GroupRunFailure> {
        let loadBefore = SystemInfo.loadAverage()
        Out.progress("load average: \(loadBefore); seed \(seed)")
        do {
            loops = try (0..<loopCount).map { try EventLoop.spawn(name: "groups-\($0)") }
        } catch {
            return .failure(GroupRunFailure("event loops: \(error)"))
        }
        let perLoopWindow = max(1, window / loopCount)
        for (l, loop) in loops.enumerated() {
            let mine = Array(stride(from: l, to: plan.connections, by: loopCount))
            shares.append(
                GroupLoopShare(
                    loop: loop, urls: urls, plan: plan, connections: mine, window: perLoopWindow, size: size))
        }

        // 1. Connect.
        let t0 = monotonicNanos()
        for s in shares { s.loop.execute { s.startConnecting() } }
        if let failure = waitFor("connect", { s in (s.opened + s.connectFailed, s.clientCount, s.connectFailure) }) {
            return .failure(failure)
        }
        let connectSeconds = seconds(since: t0)
        Out.progress(String(format: "%d connections open in %.1f s; joining %d groups…", plan.connections, connectSeconds, plan.groups))

        // 2. Join, every completion awaited.
        let t1 = monotonicNanos()
        for s in shares { s.loop.execute { s.startJoining() } }
        if let failure = waitFor("join", { s in (s.joined + s.joinFailed, s.clientCount, s.joinFailure) }) {
            return .failure(failure)
        }
        let joinSeconds = seconds(since: t1)
        Out.progress(String(format: "%d joins completed in %.1f s; sending %d group messages…", plan.connections, joinSeconds, plan.groupOf.count))

        // 3. Group messages.
        let meshBefore = quietMeshCounters()
        let group = sendPhase(kind: .group, count: plan.groupOf.count, rate: Double(rate), expected: plan.groupOf.count * plan.members)
        if let broken = firstBroken() { return .failure(GroupRunFailure("a connection broke during the group phase: \(broken)")) }
        let meshAfterGroups = quietMeshCounters()

        // 4. SendToAll with the same connections.
        var all: PhaseOutcome?
        var meshAfterAll: MeshCounters?
        if !plan.allSenderOf.isEmpty {
            Out.progress("sending \(plan.allSenderOf.count) SendToAll messages…")
            all = sendPhase(kind: .all, count: plan.allSenderOf.count, rate: allRate, expected: plan.allSenderOf.count * plan.connections)
            if let broken = firstBroken() { return .failure(GroupRunFailure("a connection broke during the SendToAll phase: \(broken)")) }
            meshAfterAll = quietMeshCounters()
        }

        // 5. Exactly once: each member against its group's messages, each connection against every SendToAll.
        var check = DeliveryCheck()
        for s in shares { check.add(onLoop(s.loop) { s.check() }) }

        return .success(
            report(
                connectSeconds: connectSeconds, joinSeconds: joinSeconds, group: group, all: all, check: check,
                mesh: (meshBefore, meshAfterGroups, meshAfterAll), loadBefore: loadBefore))
    }

    private func report(
        connectSeconds: Double, joinSeconds: Double, group: PhaseOutcome, all: PhaseOutcome?, check: DeliveryCheck,
        mesh: (MeshCounters?, MeshCounters?, MeshCounters?), loadBefore: String
    ) -> [String] {
        let n = plan.groupOf.count
        var lines: [String] = []
        lines.append(
            "groups: \(plan.groups) groups × \(plan.members) members = \(plan.connections) connections, round-robin over "
                + "\(urls.count) replica(s) (\(urls.map(\.hostHeader).joined(separator: " "))), \(loopCount) client loop(s), "
                + "seed \(seed); load average \(loadBefore) → \(SystemInfo.loadAverage())")
        lines.append(
            String(
                format: "  setup: connected in %.1f s (%.0f/s), %d JoinGroup completions in %.1f s (%.0f/s)", connectSeconds,
                Double(plan.connections) / connectSeconds, plan.connections, joinSeconds, Double(plan.connections) / joinSeconds))
        lines.append(
            String(
                format: "  SendToGroup: %d messages at %d msg/s (%.1f s), %d-byte payloads: %d of %d deliveries, "
                    + "%.0f deliveries/s (offered %d/s)", n, rate, group.sendSeconds, size, group.delivered, group.expected,
                group.deliveriesPerSecond, rate * plan.members))
        let groupLatency = LatencyResult(
            samples: group.same + group.cross, lost: check.groupLost, duplicates: check.groupDuplicates, malformed: 0)
        lines.append("    latency send → each delivery: \(groupLatency)  misrouted \(check.groupMisrouted)")
        lines.append("      same replica as the sender:  \(percentiles(group.same))")
        lines.append("      other replicas:              \(percentiles(group.cross))")
        let expectedFrames = n == 0 ? 0 : Double((0..<n).reduce(0) { $0 + plan.otherReplicasWithMembers(message: $1) }) / Double(n)
        lines.append(
            "    mesh DATA frames per message: \(framesPerMessage(mesh.0, mesh.1, messages: n))"
                + String(format: "; replicas other than the sender's with members: %.2f on average (flooding: %d)", expectedFrames, urls.count - 1))
        if let all {
            let m = plan.allSenderOf.count
            lines.append(
                String(
                    format: "  SendToAll: %d messages at %.2f msg/s (%.1f s) to the same %d connections: %d of %d deliveries, "
                        + "%.0f deliveries/s (offered %.0f/s)", m, allRate, all.sendSeconds, plan.connections, all.delivered,
                    all.expected, all.deliveriesPerSecond, allRate * Double(plan.connections)))
            let allLatency = LatencyResult(samples: all.same + all.cross, lost: check.allLost, duplicates: check.allDuplicates, malformed: 0)
            lines.append("    latency send → each delivery: \(allLatency)")
            lines.append("      same replica as the sender:  \(percentiles(all.same))")
            lines.append("      other replicas:              \(percentiles(all.cross))")
            lines.append("    mesh DATA frames per message: \(framesPerMessage(mesh.1, mesh.2, messages: m)) (expected \(urls.count - 1))")
        }
        let verdict = check.groupLost + check.groupDuplicates + check.groupMisrouted + check.allLost + check.allDuplicates == 0
        lines.append(
            "  exactly once: \(verdict ? "yes" : "NO") (group: lost \(check.groupLost), duplicated \(check.groupDuplicates), "
                + "misrouted \(check.groupMisrouted); all: lost \(check.allLost), duplicated \(check.allDuplicates)"
                + (check.unparsed > 0 ? "; \(check.unparsed) records not understood" : "") + ")")
        return lines
    }

    private func percentiles(_ samples: [UInt64]) -> String {
        guard !samples.isEmpty else { return "none" }
        let s = samples.sorted()
        func p(_ q: Double) -> String {
            String(format: "%.1f", Double(s[min(s.count - 1, max(0, Int((q * Double(s.count)).rounded(.up)) - 1))]) / 1000)
        }
        return "count \(s.count)  p50 \(p(0.5))  p99 \(p(0.99)) µs"
    }

    private func framesPerMessage(_ before: MeshCounters?, _ after: MeshCounters?, messages: Int) -> String {
        guard let before, let after else { return "n/a (no /api/mesh answer from every replica)" }
        guard messages > 0 else { return "n/a (no messages)" }
        let received = after.received &- before.received
        let sent = after.sent &- before.sent
        return String(
            format: "%.2f (%llu received, %llu sent over %d messages)", Double(received) / Double(messages), received, sent, messages)
    }

    // MARK: Phases

    private func sendPhase(kind: GroupMessageKind, count: Int, rate: Double, expected: Int) -> PhaseOutcome {
        let start = monotonicNanos() + 50_000_000
        for s in shares { s.loop.execute { s.startSending(kind, start: start, rate: rate) } }
        let lastDue = start + UInt64(Double(max(count - 1, 0)) * 1e9 / rate)
        LatencyBench.sleepUntil(lastDue)
        // Every message sent (a loop may run late), then deliveries in, or 5 s of grace after the last send.
        let sendDeadline = monotonicNanos() + UInt64(timeout * 1e9)
        while monotonicNanos() < sendDeadline, sum({ s in s.sent }) < count {
            usleep(10_000)
        }
        let sentAll = monotonicNanos()
        let drainDeadline = sentAll + 5_000_000_000
        var delivered = 0
        while monotonicNanos() < drainDeadline {
            delivered = sum { s in s.delivered(kind) }
            if delivered >= expected || firstBroken() != nil { break }
            usleep(20_000)
        }
        var outcome = PhaseOutcome(expected: expected, sendSeconds: Double(sentAll - start) / 1e9)
        var last: UInt64 = start
        let nominal = start + UInt64(Double(count) * 1e9 / rate)
        for s in shares {
            let part = onLoop(s.loop) { s.finishPhase(kind) }
            outcome.delivered += part.delivered
            outcome.same += part.same
            outcome.cross += part.cross
            last = max(last, part.lastDelivery)
        }
        // Over the sending window, or until the last delivery if that came later (the replicas fell behind).
        let span = Double(max(last, nominal) - start) / 1e9
        outcome.deliveriesPerSecond = span > 0 ? Double(outcome.delivered) / span : 0
        return outcome
    }

    /// `figure` of every loop's share (read on its loop), added up.
    private func sum(_ figure: @escaping @Sendable (GroupLoopShare) -> Int) -> Int {
        var total = 0
        for s in shares { total += onLoop(s.loop) { figure(s) } }
        return total
    }

    /// Polls the loops until `progress` says done for each, one fails, or `--timeout` passes.
    private func waitFor(
        _ what: String, _ progress: @escaping @Sendable (GroupLoopShare) -> (done: Int, of: Int, failure: String?)
    ) -> GroupRunFailure? {
        let deadline = monotonicNanos() + UInt64(timeout * 1e9)
        var lastReport = monotonicNanos()
        while true {
            var done = 0
            var total = 0
            for s in shares {
                let p = onLoop(s.loop) { progress(s) }
                if let failure = p.failure { return GroupRunFailure("\(what): \(failure)") }
                done += p.done
                total += p.of
            }
            if done >= total { return nil }
            if let broken = firstBroken() { return GroupRunFailure("\(what): a connection broke: \(broken)") }
            if monotonicNanos() >= deadline { return GroupRunFailure("\(what): \(done) of \(total) done after \(Int(timeout)) s (--timeout)") }
            if monotonicNanos() - lastReport > 5_000_000_000 {
                Out.progress("\(what): \(done) of \(total)")
                lastReport = monotonicNanos()
            }
            usleep(20_000)
        }
    }

    private func firstBroken() -> String? {
        for s in shares {
            if let b = onLoop(s.loop, { s.broken }) { return b }
        }
        return nil
    }

    /// The summed DATA counters of every replica, read once nothing has been sent for the replicas' status
    /// cache age (plus 0.3 s), so the rendering served is one taken after the last frame.
    private func quietMeshCounters() -> MeshCounters? {
        usleep(UInt32((statusMaxAge + 0.3) * 1e6))
        var total = MeshCounters(received: 0, sent: 0)
        for url in urls {
            guard let c = MeshCounters.read(url) else { return nil }
            total.received &+= c.received
            total.sent &+= c.sent
        }
        return total
    }

    private func seconds(since t: UInt64) -> Double { max(Double(monotonicNanos() - t) / 1e9, 1e-9) }

    private func tearDown() {
        for s in shares { s.loop.execute { s.closeAll() } }
        if !shares.isEmpty { usleep(200_000) }
        for loop in loops { loop.stop() }
    }
}

/// Why a run stopped early: one line.
struct GroupRunFailure: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

enum GroupMessageKind: Sendable {
    case group, all

    var marker: UInt8 { self == .group ? UInt8(ascii: "M") : UInt8(ascii: "A") }
}

/// What one send phase measured, summed over the loops.
struct PhaseOutcome {
    var expected: Int
    var sendSeconds: Double
    var delivered = 0
    var deliveriesPerSecond: Double = 0
    /// Send → delivery, for receivers on the sender's replica and on the others.
    var same: [UInt64] = []
    var cross: [UInt64] = []

    init(expected: Int, sendSeconds: Double) {
        self.expected = expected
        self.sendSeconds = sendSeconds
    }
}

/// Lost, duplicated and misrouted deliveries, summed over the loops.
struct DeliveryCheck: Sendable {
    var groupLost = 0
    var groupDuplicates = 0
    var groupMisrouted = 0
    var allLost = 0
    var allDuplicates = 0
    var unparsed = 0

    mutating func add(_ other: DeliveryCheck) {
        groupLost += other.groupLost
        groupDuplicates += other.groupDuplicates
        groupMisrouted += other.groupMisrouted
        allLost += other.allLost
        allDuplicates += other.allDuplicates
        unparsed += other.unparsed
    }
}

/// DATA frames summed over a replica's peers (`GET /api/mesh`).
struct MeshCounters {
    var received: UInt64
    var sent: UInt64

    static func read(_ url: HubURL) -> MeshCounters? {
        guard let body = SystemInfo.httpGet(host: url.host, port: url.port, path: "/api/mesh", timeoutSeconds: 3),
            let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let peers = object["peers"] as? [[String: Any]]
        else { return nil }
        var c = MeshCounters(received: 0, sent: 0)
        for p in peers {
            c.received &+= (p["dataReceived"] as? NSNumber)?.uint64Value ?? 0
            c.sent &+= (p["dataSent"] as? NSNumber)?.uint64Value ?? 0
        }
        return c
    }
}

/// The clients of one loop and everything they record. Confined to `loop` (hence `@unchecked Sendable`).
final class GroupLoopShare: @unchecked Sendable {
    let loop: EventLoop
    let plan: GroupPlan
    let window: Int
    private var clients: [HubClient] = []
    /// Global connection index of each local client.
    private let connection: [Int]
    private let localIndex: [Int: Int]

    private(set) var opened = 0
    private(set) var connectFailed = 0
    private(set) var connectFailure: String?
    private var nextToOpen = 0
    private var opening = 0

    private(set) var joined = 0
    private(set) var joinFailed = 0
    private(set) var joinFailure: String?
    private var nextToJoin = 0
    private var joining = 0

    private(set) var broken: String?
    private var unparsed = 0

    /// Ids of the group messages each local client got, in arrival order.
    private var groupReceived: [[Int32]]
    /// One bit per `SendToAll` message per local client.
    private var allSeen: [[UInt64]]
    private var allDuplicates = 0
    private var groupDelivered = 0
    private var allDelivered = 0
    private var same: [UInt64] = []
    private var cross: [UInt64] = []
    private var lastDelivery: UInt64 = 0

    private var sendList: [(id: Int, local: Int)] = []
    private var sendKind = GroupMessageKind.group
    private var sendStart: UInt64 = 0
    private var sendRate = 1.0
    private(set) var sent = 0
    private var timer: TimerID?
    private var payload: [UInt8]
    private var record: [UInt8] = []

    var clientCount: Int { clients.count }

    init(loop: EventLoop, urls: [HubURL], plan: GroupPlan, connections: [Int], window: Int, size: Int) {
        self.loop = loop
        self.plan = plan
        self.window = window
        connection = connections
        var index: [Int: Int] = [:]
        for (li, c) in connections.enumerated() { index[c] = li }
        localIndex = index
        clients = connections.map { HubClient(loop: loop, url: urls[plan.replica(ofConnection: $0)]) }
        groupReceived = Array(repeating: [], count: connections.count)
        allSeen = Array(repeating: [UInt64](repeating: 0, count: (plan.allSenderOf.count + 63) / 64), count: connections.count)
        payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
    }

    // MARK: Connect and join (windowed)

    func startConnecting() {
        for (li, client) in clients.enumerated() {
            client.onRecord = { [unowned self] record, now in received(li, record, now) }
            client.onClose = { [unowned self] reason in
                broken = broken ?? "connection \(connection[li]) to \(client.url.hostHeader): \(reason)"
            }
        }
        pumpConnect()
    }

    private func pumpConnect() {
        while opening < window, nextToOpen < clients.count {
            let li = nextToOpen
            nextToOpen += 1
            opening += 1
            clients[li].start(skipNegotiation: true) { [unowned self] result in
                opening -= 1
                switch result {
                case .success:
                    opened += 1
                case .failure(let e):
                    connectFailed += 1
                    connectFailure = connectFailure ?? "connection \(connection[li]) to \(clients[li].url.hostHeader): \(e)"
                }
                pumpConnect()
            }
        }
    }

    func startJoining() { pumpJoin() }

    private func pumpJoin() {
        while joining < window, nextToJoin < clients.count {
            let li = nextToJoin
            nextToJoin += 1
            joining += 1
            record.removeAll(keepingCapacity: true)
            record.append(contentsOf: "{\"type\":1,\"invocationId\":\"\(li)\",\"target\":\"JoinGroup\",\"arguments\":[\"g".utf8)
            record.append(contentsOf: String(connection[li] / plan.members).utf8)
            record.append(contentsOf: "\"]}".utf8)
            record.append(HubMessages.recordSeparator)
            record.withUnsafeBytes { clients[li].send(record: $0) }
        }
    }

    private func joinCompleted(_ li: Int, error: String?) {
        joining -= 1
        if let error {
            joinFailed += 1
            joinFailure = joinFailure ?? "JoinGroup of connection \(connection[li]) failed: \(error)"
        } else {
            joined += 1
        }
        pumpJoin()
    }

    // MARK: Sending

    func startSending(_ kind: GroupMessageKind, start: UInt64, rate: Double) {
        sendKind = kind
        sendStart = start
        sendRate = rate
        sent = 0
        sendList = []
        let senders = kind == .group ? plan.senderOf : plan.allSenderOf
        for (id, c) in senders.enumerated() {
            if let li = localIndex[Int(c)] { sendList.append((id, li)) }
        }
        timer = loop.scheduleRepeating(everyNanos: 1_000_000) { [weak self] in self?.tick() }
    }

    private func tick() {
        let now = monotonicNanos()
        var burst = 0
        while sent < sendList.count, burst < 10_000 {
            let (id, li) = sendList[sent]
            let due = sendStart + UInt64(Double(id) * 1e9 / sendRate)
            guard due <= now else { break }
            sendOne(id: id, from: li)
            sent += 1
            burst += 1
        }
        if sent >= sendList.count, let timer {
            loop.cancel(timer)
            self.timer = nil
        }
    }

    private func sendOne(id: Int, from li: Int) {
        let t = monotonicNanos()
        payload[0] = sendKind.marker
        payload[1] = UInt8(ascii: "|")
        writeDigits(UInt64(id), count: 10, at: 2)
        payload[12] = UInt8(ascii: "|")
        writeDigits(t, count: 20, at: 13)
        payload[33] = UInt8(ascii: "|")
        record.removeAll(keepingCapacity: true)
        if sendKind == .group {
            record.append(contentsOf: "{\"type\":1,\"target\":\"SendToGroup\",\"arguments\":[\"g".utf8)
            record.append(contentsOf: String(plan.groupOf[id]).utf8)
            record.append(contentsOf: "\",\"".utf8)
        } else {
            record.append(contentsOf: "{\"type\":1,\"target\":\"SendToAll\",\"arguments\":[\"".utf8)
        }
        record.append(contentsOf: payload)
        record.append(contentsOf: "\"]}".utf8)
        record.append(HubMessages.recordSeparator)
        record.withUnsafeBytes { clients[li].send(record: $0) }
    }

    private func writeDigits(_ value: UInt64, count: Int, at offset: Int) {
        var v = value
        var i = offset + count - 1
        while i >= offset {
            payload[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            i -= 1
        }
    }

    // MARK: Receiving

    private func received(_ li: Int, _ record: ArraySlice<UInt8>, _ now: UInt64) {
        guard let (kind, id, sentAt) = Self.findPayload(record) else {
            return otherRecord(li, record)
        }
        let latency = now >= sentAt ? now - sentAt : 0
        let sender: Int
        switch kind {
        case .group:
            guard id < plan.senderOf.count else { unparsed += 1; return }
            groupReceived[li].append(Int32(id))
            groupDelivered += 1
            sender = Int(plan.senderOf[id])
        case .all:
            guard id < plan.allSenderOf.count else { unparsed += 1; return }
            let bit: UInt64 = 1 << UInt64(id & 63)
            if allSeen[li][id >> 6] & bit != 0 {
                allDuplicates += 1
                return
            }
            allSeen[li][id >> 6] |= bit
            allDelivered += 1
            sender = Int(plan.allSenderOf[id])
        }
        lastDelivery = max(lastDelivery, now)
        if plan.replica(ofConnection: sender) == plan.replica(ofConnection: connection[li]) {
            same.append(latency)
        } else {
            cross.append(latency)
        }
    }

    /// Completions (of JoinGroup), pings, close messages, anything else.
    private func otherRecord(_ li: Int, _ record: ArraySlice<UInt8>) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(record)) as? [String: Any],
            let type = (object["type"] as? NSNumber)?.intValue
        else {
            unparsed += 1
            return
        }
        switch type {
        case 3: joinCompleted(li, error: object["error"] as? String)
        case 6: break
        case 7: broken = broken ?? "connection \(connection[li]): server sent Close \(object["error"] as? String ?? "")"
        default: unparsed += 1
        }
    }

    /// Finds `"M|` or `"A|` and reads the id and send time after it.
    static func findPayload(_ record: ArraySlice<UInt8>) -> (GroupMessageKind, Int, UInt64)? {
        var i = record.startIndex
        let end = record.endIndex
        while i + LatencyBench.headerBytes < end {
            if record[i] == UInt8(ascii: "\""), record[i + 2] == UInt8(ascii: "|") {
                let kind: GroupMessageKind
                switch record[i + 1] {
                case UInt8(ascii: "M"): kind = .group
                case UInt8(ascii: "A"): kind = .all
                default:
                    i += 1
                    continue
                }
                guard let id = digits(record, from: i + 3, count: 10), record[i + 13] == UInt8(ascii: "|"),
                    let t = digits(record, from: i + 14, count: 20)
                else { return nil }
                return (kind, Int(id), t)
            }
            i += 1
        }
        return nil
    }

    private static func digits(_ r: ArraySlice<UInt8>, from: Int, count: Int) -> UInt64? {
        var v: UInt64 = 0
        for k in from..<(from + count) {
            let d = r[k] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            v = v &* 10 &+ UInt64(d)
        }
        return v
    }

    // MARK: Results

    func delivered(_ kind: GroupMessageKind) -> Int { kind == .group ? groupDelivered : allDelivered }

    /// Hands over (and clears) the latencies of the phase that just ended.
    func finishPhase(_ kind: GroupMessageKind) -> (delivered: Int, same: [UInt64], cross: [UInt64], lastDelivery: UInt64) {
        if let timer { loop.cancel(timer) }
        timer = nil
        let result = (delivered(kind), same, cross, lastDelivery)
        same = []
        cross = []
        lastDelivery = 0
        return result
    }

    /// Each local client's group deliveries against its group's messages; its `SendToAll` bits against all.
    func check() -> DeliveryCheck {
        var c = DeliveryCheck()
        c.unparsed = unparsed
        c.allDuplicates = allDuplicates
        let allCount = plan.allSenderOf.count
        for li in clients.indices {
            let got = groupReceived[li].sorted()
            var unique: [Int32] = []
            unique.reserveCapacity(got.count)
            for id in got where unique.last != id { unique.append(id) }
            c.groupDuplicates += got.count - unique.count
            let expected = plan.messagesOf[connection[li] / plan.members]
            var a = 0
            var b = 0
            var matched = 0
            while a < unique.count, b < expected.count {
                if unique[a] == expected[b] {
                    matched += 1
                    a += 1
                    b += 1
                } else if unique[a] < expected[b] {
                    a += 1
                } else {
                    b += 1
                }
            }
            c.groupMisrouted += unique.count - matched
            c.groupLost += expected.count - matched
            let seen = allSeen[li].reduce(0) { $0 + $1.nonzeroBitCount }
            c.allLost += allCount - seen
        }
        return c
    }

    func closeAll() {
        if let timer { loop.cancel(timer) }
        timer = nil
        for c in clients {
            c.onClose = nil
            c.close()
        }
    }
}

/// Replicas this benchmark starts itself (`--server`): a private peers file on free ports, one process each,
/// their output in a temporary directory (kept, and named, if they fail to start).
final class BenchReplicas {
    let directory: String
    let hubURLs: [HubURL]
    private let processes: [Process]

    private init(directory: String, hubURLs: [HubURL], processes: [Process]) {
        self.directory = directory
        self.hubURLs = hubURLs
        self.processes = processes
    }

    static func start(server: String, count: Int, statusMaxAge: Double) throws(GroupRunFailure) -> BenchReplicas {
        let directory = NSTemporaryDirectory() + "/bench-groups-" + SystemInfo.randomHex(bytes: 6)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw GroupRunFailure("cannot create \(directory): \(error)")
        }
        var ports: [UInt16] = []
        while ports.count < 2 * count {
            guard let p = SystemInfo.freePort() else { throw GroupRunFailure("no free port") }
            if !ports.contains(p) { ports.append(p) }
        }
        let ids = (0..<count).map { String(UnicodeScalar(UInt8(ascii: "a") + UInt8($0))) }
        let entries = ids.enumerated().map { i, id in
            "{\"id\":\"\(id)\",\"http\":\"127.0.0.1:\(ports[2 * i])\",\"mesh\":\"127.0.0.1:\(ports[2 * i + 1])\"}"
        }
        let peersPath = directory + "/peers.json"
        let peers = "{\"cluster\":\"bench-groups\",\"secret\":\"\(SystemInfo.randomHex())\",\"replicas\":[\(entries.joined(separator: ","))]}"
        guard FileManager.default.createFile(atPath: peersPath, contents: Data(peers.utf8)) else {
            throw GroupRunFailure("cannot write \(peersPath)")
        }
        var processes: [Process] = []
        var urls: [HubURL] = []
        for (i, id) in ids.enumerated() {
            let logPath = directory + "/\(id).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: server)
            p.arguments = [
                "--node", id, "--peers", peersPath, "--log-level", "warning", "--status-max-age", "\(statusMaxAge)",
            ]
            p.standardInput = FileHandle.nullDevice
            if let log = FileHandle(forWritingAtPath: logPath) {
                p.standardOutput = log
                p.standardError = log
            }
            do {
                try p.run()
            } catch {
                for q in processes { q.terminate() }
                throw GroupRunFailure("cannot start \(server): \(error)")
            }
            processes.append(p)
            do {
                urls.append(try HubURL(parsing: "http://127.0.0.1:\(ports[2 * i])/demoHub"))
            } catch {
                throw GroupRunFailure("\(error)")
            }
        }
        let replicas = BenchReplicas(directory: directory, hubURLs: urls, processes: processes)
        // Ready once every replica answers /api/mesh with all its peers up.
        let deadline = monotonicNanos() + 30_000_000_000
        var pending = Set(urls.indices)
        while !pending.isEmpty {
            for i in pending {
                guard processes[i].isRunning else {
                    replicas.stop(keepDirectory: true)
                    throw GroupRunFailure("replica \(ids[i]) exited (log: \(directory)/\(ids[i]).log)")
                }
                if allPeersUp(urls[i], peers: count - 1) { pending.remove(i) }
            }
            if pending.isEmpty { break }
            guard monotonicNanos() < deadline else {
                replicas.stop(keepDirectory: true)
                throw GroupRunFailure("replicas not all linked after 30 s (logs in \(directory))")
            }
            usleep(100_000)
        }
        return replicas
    }

    private static func allPeersUp(_ url: HubURL, peers: Int) -> Bool {
        guard let body = SystemInfo.httpGet(host: url.host, port: url.port, path: "/api/mesh", timeoutSeconds: 2),
            let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let list = object["peers"] as? [[String: Any]]
        else { return false }
        return list.count == peers && list.allSatisfy { $0["state"] as? String == "up" }
    }

    /// SIGTERM, then SIGKILL after 5 s; removes the directory unless told to keep it.
    func stop(keepDirectory: Bool = false) {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = monotonicNanos() + 5_000_000_000
        while processes.contains(where: \.isRunning), monotonicNanos() < deadline { usleep(50_000) }
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in processes { p.waitUntilExit() }
        if !keepDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }
}
