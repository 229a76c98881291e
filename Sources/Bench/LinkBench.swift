import Foundation
import Mesh
import NetKit

/// `Bench link`: how many small messages per second ONE mesh link carries between two processes, with the
/// normal ``MeshNode`` (handshake, acks, replay log, heartbeats all on).
///
/// The parent writes a two-replica peers file (free ports, random secret) and runs itself twice as
/// `link-node`: a receiver (`r`) and a sender (`s`). Each child runs one MeshNode on one EventLoop on its
/// main thread. The sender publishes in batches, one batch per loop turn, and holds back while more than
/// `--window` of its messages are not yet delivered: the receiver publishes its delivered count back over the
/// same link every 5 ms (a few hundred small messages a second against millions). Undelivered messages are a
/// superset of the ones not yet handed to the link, so with the window below the log bound (100 000 messages
/// by default) the log is never what limits the run, and a gap would show a real loss. The receiver checks
/// the seq each payload carries, counts deliveries per 1 s window and prints them on stdout.
enum LinkBench {
    static let usage = """
        Bench link [--seconds 5] [--size 64] [--batch 2048] [--window 50000] [--log-count 100000] [--encrypt on|off]
            Two child processes, one mesh link, the sender publishing as fast as the link takes it. Prints
            msgs/s (median of the full 1 s windows after the first), total, gaps and duplicates.
            --encrypt on (or just --encrypt) seals the link (peers.json "encryption": "on"); default off.
        """

    static func run(_ args: [String]) throws(UsageError) {
        // `--encrypt` alone means on.
        var args = args
        if let i = args.firstIndex(of: "--encrypt"), i + 1 == args.count || args[i + 1].hasPrefix("--") {
            args.insert("on", at: i + 1)
        }
        let flags = try Flags(
            command: "link", args, valued: ["seconds", "size", "batch", "window", "log-count", "encrypt"])
        let encrypt = flags.string("encrypt", default: "off")
        guard encrypt == "on" || encrypt == "off" else { throw UsageError("link: --encrypt must be on or off") }
        let seconds = try flags.int("seconds", default: 5, min: 1, max: 600)
        let size = try flags.int("size", default: 64, min: 8, max: 1 << 20)
        let batch = try flags.int("batch", default: 2048, min: 1, max: 1 << 20)
        let logCount = try flags.int("log-count", default: OriginLog.defaultMaxCount, min: 1000, max: 100_000_000)
        let window = try flags.int("window", default: min(50_000, logCount / 2), min: 1, max: 100_000_000)
        guard window < logCount else { throw UsageError("link: --window must be below --log-count") }

        Out.progress("load average: \(SystemInfo.loadAverage())")
        var ports = Set<UInt16>()
        while ports.count < 4 {
            guard let p = SystemInfo.freePort() else { Out.fail("no free port") }
            ports.insert(p)
        }
        let p = Array(ports)
        let dir = NSTemporaryDirectory() + "bench-link-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let peersPath = dir + "/peers.json"
        let peers = """
            {"cluster":"bench-link","secret":"\(SystemInfo.randomHex())","encryption":"\(encrypt)","replicas":[
             {"id":"r","http":"127.0.0.1:\(p[0])","mesh":"127.0.0.1:\(p[1])"},
             {"id":"s","http":"127.0.0.1:\(p[2])","mesh":"127.0.0.1:\(p[3])"}]}
            """
        guard FileManager.default.createFile(atPath: peersPath, contents: Data(peers.utf8)) else {
            Out.fail("cannot write \(peersPath)")
        }
        let common = ["--peers", peersPath, "--seconds", "\(seconds)", "--size", "\(size)", "--log-count", "\(logCount)"]
        let receiver: ChildProcess
        let sender: ChildProcess
        do {
            receiver = try ChildProcess(name: "receiver", arguments: ["link-node", "--role", "receiver"] + common)
            sender = try ChildProcess(
                name: "sender",
                arguments: ["link-node", "--role", "sender", "--batch", "\(batch)", "--window", "\(window)"] + common)
        } catch {
            Out.fail("cannot spawn link nodes: \(error)")
        }
        let deadline = monotonicNanos() + UInt64(seconds + 30) * 1_000_000_000
        var windows: [Int] = []
        var receiverFinal: [String: String] = [:]
        while let line = receiver.nextLine(deadline: deadline) {
            if line.hasPrefix("window ") {
                let n = Int(line.dropFirst(7)) ?? 0
                windows.append(n)
                Out.progress("  \(n) msgs/s")
            } else if line.hasPrefix("final ") {
                receiverFinal = keyValues(line)
                break
            } else if line.hasPrefix("up") {
                guard line.hasSuffix("encrypted=\(encrypt == "on")") else { Out.fail("link came up as \(line), asked for --encrypt \(encrypt)") }
                Out.progress("link up (\(line)), sending for 1 s warm-up + \(seconds) s")
            }
        }
        let senderFinal = keyValues(sender.line(startingWith: "final ", deadline: deadline) ?? "")
        receiver.waitForExit(deadline: deadline)
        sender.waitForExit(deadline: deadline)
        guard !receiverFinal.isEmpty else { Out.fail("the receiver did not report (see its stderr above)") }

        // The first window holds the link coming up and warm-up, the last one the tail: keep the full ones.
        let full = windows.count > 2 ? Array(windows.dropFirst().dropLast()) : windows
        let sorted = full.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        let delivered = Int(receiverFinal["delivered"] ?? "") ?? 0
        Out.line(
            "link: \(size)-byte payloads, one link (\(encrypt == "on" ? "encrypted" : "in clear")), two processes; "
                + "load average \(SystemInfo.loadAverage())")
        Out.line(
            "  \(median) msgs/s (median of \(full.count) full 1 s windows: \(full.map(String.init).joined(separator: " ")))")
        Out.line(
            "  total delivered \(delivered) of \(senderFinal["published"] ?? "?") published; gaps \(receiverFinal["gaps"] ?? "?") "
                + "(mesh-reported \(receiverFinal["meshGaps"] ?? "?"), sender evictions \(senderFinal["sendGaps"] ?? "?")); "
                + "duplicates \(receiverFinal["dups"] ?? "?") (mesh-dropped \(receiverFinal["meshDups"] ?? "?")); "
                + "out of order \(receiverFinal["ooo"] ?? "?")")
        if let sent = Double(senderFinal["dataSent"] ?? ""), let writes = Double(senderFinal["dataWrites"] ?? ""), writes > 0 {
            Out.line(String(format: "  %.0f DATA frames per write on average (%.0f writes)", sent / writes, writes))
        }
        if let cpu = Double(senderFinal["cpu"] ?? ""), let rcpu = Double(receiverFinal["cpu"] ?? ""), delivered > 0 {
            // On a shared machine the wall-clock rate moves with other people's load; CPU per message doesn't.
            let sns = cpu * 1e9 / Double(delivered)
            let rns = rcpu * 1e9 / Double(delivered)
            Out.line(
                String(
                    format: "  CPU: sender %.2f s (%.0f ns/msg), receiver %.2f s (%.0f ns/msg) → %.2fM msgs/s if the slower side had a core to itself",
                    cpu, sns, rcpu, rns, 1e3 / max(sns, rns)))
        }
    }

    private static func keyValues(_ line: String) -> [String: String] {
        var out: [String: String] = [:]
        for part in line.split(separator: " ") {
            guard let eq = part.firstIndex(of: "=") else { continue }
            out[String(part[..<eq])] = String(part[part.index(after: eq)...])
        }
        return out
    }

    // MARK: - Child

    /// `Bench link-node --role sender|receiver --peers FILE --seconds N --size N [--batch N --window N]`
    static func node(_ args: [String]) throws(UsageError) {
        let flags = try Flags(
            command: "link-node", args, valued: ["role", "peers", "seconds", "size", "batch", "window", "log-count"])
        let role = flags.string("role", default: "")
        guard role == "sender" || role == "receiver" else { throw UsageError("link-node: --role sender|receiver") }
        guard let peersPath = flags.optionalString("peers") else { throw UsageError("link-node: --peers FILE") }
        let seconds = try flags.int("seconds", default: 5, max: 600)
        let size = try flags.int("size", default: 64, min: 8)
        let batch = try flags.int("batch", default: 2048)
        let window = try flags.int("window", default: 50_000)
        let logCount = try flags.int("log-count", default: OriginLog.defaultMaxCount, min: 1000)

        let config: MeshConfig
        do {
            config = try MeshConfig.load(path: peersPath, environment: [:])
        } catch {
            throw UsageError("link-node: \(error)")
        }
        let loop: EventLoop
        do {
            loop = try EventLoop(name: role)
        } catch {
            Out.fail("event loop: \(error)")
        }
        var meshOptions = MeshOptions()
        meshOptions.logMaxCount = logCount
        let options = meshOptions
        let id = role == "sender" ? "s" : "r"
        let hardStop = monotonicNanos() + UInt64(seconds + 20) * 1_000_000_000
        // Timers and callbacks hold the node weakly: this keeps it (and its driver) alive until the process exits.
        let keeper = KeepAlive()
        loop.execute {
            do {
                let node = try MeshNode(config: config, selfId: id, loop: loop, logger: Logger(label: "mesh-\(id)"), options: options)
                if role == "sender" {
                    let s = LinkSender(node: node, seconds: seconds, size: size, batch: batch, window: window)
                    keeper.objects = [node, s]
                    try node.start()
                    s.waitForLink()
                } else {
                    let r = LinkReceiver(node: node)
                    keeper.objects = [node, r]
                    try node.start()
                    r.begin()
                }
            } catch {
                Out.fail("link-node \(role): \(error)")
            }
            loop.scheduleRepeating(everyNanos: 1_000_000_000) {
                if monotonicNanos() > hardStop { Out.fail("link-node \(role): gave up after \(seconds + 20) s") }
            }
        }
        loop.run()
    }

    static func cpuSeconds() -> String {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let t = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
        return String(format: "%.2f", t)
    }
}

/// Strong references that must live as long as the loop runs. Touched on the loop thread only.
final class KeepAlive: @unchecked Sendable {
    var objects: [AnyObject] = []
}

/// The publishing side of `Bench link`. Confined to the node's loop.
final class LinkSender: @unchecked Sendable {
    let node: MeshNode
    let seconds: Int
    let batch: Int
    let window: Int
    /// Every payload: `size` bytes, the seq written over the first 8.
    let template: [UInt8]
    private var published: UInt64 = 0
    /// The receiver's latest delivered count.
    private var delivered: UInt64 = 0
    private var stopAt: UInt64 = 0

    init(node: MeshNode, seconds: Int, size: Int, batch: Int, window: Int) {
        self.node = node
        self.seconds = seconds
        self.batch = batch
        self.window = window
        template = [UInt8](repeating: 0x61, count: size)
    }

    func waitForLink() {
        node.onDeliver = { [self] _, payload in
            guard payload.count == 8 else { return }
            delivered = max(delivered, payload.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) })
        }
        if node.snapshot().peers.first?.state == .up {
            // Let the RESUME exchange finish so the first batch has somewhere to go.
            node.loop.schedule(afterNanos: 50_000_000) { [self] in
                stopAt = monotonicNanos() + UInt64(seconds + 1) * 1_000_000_000
                turn()
            }
        } else {
            node.loop.schedule(afterNanos: 5_000_000) { [self] in waitForLink() }
        }
    }

    /// One batch per loop turn; the next turn comes after this iteration's reads, timers and flush.
    private func turn() {
        if monotonicNanos() >= stopAt { return finish() }
        let inFlight = published - min(delivered, published)
        let room = UInt64(window) > inFlight ? UInt64(window) - inFlight : 0
        let n = min(UInt64(batch), room)
        if n > 0 {
            // A new array per message, as an application's would be: a copy of the template made by writing the
            // seq into it (the cheapest way to a fresh array from this module), and locals in the loop (this
            // target keeps the runtime exclusivity checks).
            let node = self.node
            let template = self.template
            var seq = published
            for _ in 0..<n {
                seq += 1
                var payload = template
                payload.withUnsafeMutableBytes { $0.storeBytes(of: seq.bigEndian, toByteOffset: 0, as: UInt64.self) }
                node.publish(payload)
            }
            published = seq
            node.loop.execute { [self] in turn() }
        } else {
            // A whole window is in flight: wait for the next report instead of spinning.
            node.loop.schedule(afterNanos: 500_000) { [self] in turn() }
        }
    }

    private func finish() {
        // Give the link a moment to hand over the tail, then report and leave.
        node.loop.schedule(afterNanos: 1_000_000_000) { [self] in
            let peer = node.snapshot().peers.first
            Out.line(
                "final published=\(published) dataSent=\(peer?.dataSent ?? 0) dataWrites=\(peer?.dataWrites ?? 0) "
                    + "sendGaps=\(peer?.sendGaps ?? 0) cpu=\(LinkBench.cpuSeconds())")
            node.leave { exit(0) }
        }
    }
}

/// The receiving side of `Bench link`: counts deliveries per second and checks the seqs. Confined to the
/// node's loop.
final class LinkReceiver: @unchecked Sendable {
    let node: MeshNode
    private var delivered: UInt64 = 0
    private var lastSeq: UInt64 = 0
    private var gaps: UInt64 = 0
    private var dups: UInt64 = 0
    /// `delivered` when the current 1 s window began.
    private var windowStart: UInt64 = 0
    private var started = false
    private var idleWindows = 0

    init(node: MeshNode) {
        self.node = node
    }

    func begin() {
        // A strong capture (node → closure → self → node is a cycle, but both live as long as the process):
        // `unowned` costs an atomic check per message, several percent of this loop at millions per second.
        node.onDeliver = { [self] _, payload in
            let seq = payload.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
            if seq == lastSeq + 1 {
                lastSeq = seq
            } else if seq > lastSeq {
                gaps += seq - lastSeq - 1
                lastSeq = seq
            } else {
                dups += 1
            }
            delivered += 1
        }
        waitForLink()
    }

    private func waitForLink() {
        if let peer = node.snapshot().peers.first, peer.state == .up {
            Out.line("up encrypted=\(peer.encrypted)")
            node.loop.scheduleRepeating(everyNanos: 1_000_000_000) { [self] in window() }
            // Flow-control feedback for the sender (see LinkBench).
            var last: UInt64 = 0
            node.loop.scheduleRepeating(everyNanos: 5_000_000) { [self] in
                guard delivered != last else { return }
                last = delivered
                var report = [UInt8](repeating: 0, count: 8)
                report.withUnsafeMutableBytes { $0.storeBytes(of: last.bigEndian, as: UInt64.self) }
                node.publish(report)
            }
        } else {
            node.loop.schedule(afterNanos: 5_000_000) { [self] in waitForLink() }
        }
    }

    private func window() {
        let n = Int(delivered - windowStart)
        windowStart = delivered
        if n > 0 {
            started = true
            idleWindows = 0
            Out.line("window \(n)")
        } else if started {
            idleWindows += 1
            if idleWindows >= 2 { finish() }
        }
    }

    private func finish() {
        let snap = node.snapshot()
        let peer = snap.peers.first
        let origin = snap.origins.first
        Out.line(
            "final delivered=\(delivered) gaps=\(gaps) dups=\(dups) meshGaps=\(origin?.gaps ?? 0) "
                + "meshDups=\(peer?.duplicatesDropped ?? 0) ooo=\(peer?.outOfOrderDropped ?? 0) cpu=\(LinkBench.cpuSeconds())")
        exit(0)
    }
}
