import Foundation
import Glibc
import NetKit
import Synchronization

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
