import Foundation
import NetKit
import Synchronization

/// `Bench latency`: one client sends `SendMessage` at a steady rate on one replica, another client on a
/// second replica receives the `ReceiveMessage` broadcast; end-to-end latency on one monotonic clock.
///
/// Each message carries its sequence number and its send time (`L|<seq:10>|<sentNanos:20>|xxx…`, padded to
/// `--size` bytes): both clients live in this process, so the receiver reads the send time straight from the
/// payload rather than from a table shared across threads. The sender sees its own broadcast too (ChatHub sends
/// to All), which gives the same-replica latency for free.
enum LatencyBench {
    static let usage = """
        Bench latency [--send URL] [--recv URL] [--rate 1000] [--seconds 10] [--size 64] [--warmup 1]
                      [--skip-negotiation]
            One sender on --send (default http://127.0.0.1:5001/chatHub) and one receiver on --recv (default
            http://127.0.0.1:5002/chatHub), each on its own event-loop thread. Prints p50/p90/p99/p99.9/max in µs
            for the cross-replica path (and the sender's own echo), count, lost and duplicates. The first
            --warmup seconds are sent but not counted.
        """

    /// Bytes of the fixed part of a payload: `L|` + 10 digits + `|` + 20 digits + `|`.
    static let headerBytes = 34

    static func run(_ args: [String]) throws(UsageError) {
        let flags = try Flags(
            command: "latency", args, valued: ["send", "recv", "rate", "seconds", "size", "warmup"],
            switches: ["skip-negotiation"])
        let sendURL = try flags.url("send", default: "http://127.0.0.1:5001/chatHub")
        let recvURL = try flags.url("recv", default: "http://127.0.0.1:5002/chatHub")
        let rate = try flags.int("rate", default: 1000, min: 1, max: 1_000_000)
        let seconds = try flags.double("seconds", default: 10, min: 0.1)
        let size = try flags.int("size", default: 64, min: headerBytes, max: 16_000)
        let warmup = try flags.double("warmup", default: 1, min: 0)
        let skip = flags.has("skip-negotiation")
        guard seconds <= 3600, warmup <= 60 else { throw UsageError("latency: --seconds ≤ 3600 and --warmup ≤ 60") }

        Out.progress("load average: \(SystemInfo.loadAverage())")
        let sendLoop: EventLoop
        let recvLoop: EventLoop
        do {
            sendLoop = try EventLoop.spawn(name: "bench-sender")
            recvLoop = try EventLoop.spawn(name: "bench-receiver")
        } catch {
            Out.fail("cannot start event loops: \(error)")
        }
        let receiver = HubClient(loop: recvLoop, url: recvURL)
        let sender = HubClient(loop: sendLoop, url: sendURL)
        // The receiver first, so it is subscribed before anything is sent.
        if let e = connect(receiver, skip: skip) { Out.fail("receiver on \(recvURL): \(e)") }
        if let e = connect(sender, skip: skip) { Out.fail("sender on \(sendURL): \(e)") }
        Out.progress("connected: sender \(sendURL), receiver \(recvURL); \(rate) msg/s for \(warmup) s warm-up + \(seconds) s")

        let start = monotonicNanos() + 20_000_000
        let measureFrom = start + UInt64(warmup * 1e9)
        let end = measureFrom + UInt64(seconds * 1e9)
        let expected = Int(Double(rate) * (warmup + seconds)) + 1024
        let remote = LatencyRecorder(measureFrom: measureFrom, expected: expected)
        let local = LatencyRecorder(measureFrom: measureFrom, expected: expected)
        let broken = Mutex<String?>(nil)
        let paced = PacedSender(client: sender, rate: rate, size: size, start: start, end: end, measureFrom: measureFrom)

        recvLoop.execute {
            receiver.onRecord = { record, now in remote.record(record, now: now) }
            receiver.onClose = { reason in broken.withLock { $0 = $0 ?? "receiver: \(reason)" } }
        }
        sendLoop.execute {
            sender.onRecord = { record, now in local.record(record, now: now) }
            sender.onClose = { reason in broken.withLock { $0 = $0 ?? "sender: \(reason)" } }
            paced.begin()
        }

        // Sleep through the run, then give stragglers up to 2 s.
        sleepUntil(end)
        let sentMeasured = onLoop(sendLoop) { paced.sentMeasured }
        let drainDeadline = monotonicNanos() + 2_000_000_000
        while monotonicNanos() < drainDeadline {
            let got = onLoop(recvLoop) { remote.uniqueMeasured }
            if got >= sentMeasured || broken.withLock({ $0 }) != nil { break }
            usleep(20_000)
        }
        let remoteResult = onLoop(recvLoop) { remote.result(sent: sentMeasured) }
        let localResult = onLoop(sendLoop) { local.result(sent: sentMeasured) }
        let sentTotal = onLoop(sendLoop) { paced.sent }
        sendLoop.execute { sender.close() }
        recvLoop.execute { receiver.close() }
        usleep(50_000)
        sendLoop.stop()
        recvLoop.stop()

        if let reason = broken.withLock({ $0 }) { Out.progress("warning: a connection broke during the run: \(reason)") }
        Out.line(
            "latency: \(rate) msg/s, \(size)-byte messages, \(seconds) s measured (+\(warmup) s warm-up), "
                + "\(sentTotal) sent in all; load average \(SystemInfo.loadAverage())")
        Out.line("  cross-replica  \(sendURL.hostHeader) → \(recvURL.hostHeader): \(remoteResult)")
        Out.line("  same replica   \(sendURL.hostHeader) → \(sendURL.hostHeader): \(localResult)")
        // The replicas' own share: wake-up → first write per loop turn (since they started), from /api/mesh.
        for url in sendURL == recvURL ? [sendURL] : [sendURL, recvURL] {
            Out.line("  server code    \(url.hostHeader) \(serverTurns(url))")
        }
    }

    /// The `loop` figures of the replica's `/api/mesh`, as one line (or why not).
    static func serverTurns(_ url: HubURL) -> String {
        guard let body = SystemInfo.httpGet(host: url.host, port: url.port, path: "/api/mesh", timeoutSeconds: 2) else {
            return "(no /api/mesh answer)"
        }
        guard let loop = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let figures = loop["loop"] as? [String: Any], let turns = figures["turns"] as? Int,
            let micros = figures["wakeToFirstWriteMicros"] as? [String: Any]
        else { return "(no loop figures in /api/mesh)" }
        let text = ["p50", "p90", "p99", "p999", "max"].map { key in
            "\(key == "p999" ? "p99.9" : key) \((micros[key] as? NSNumber)?.stringValue ?? "?")"
        }
        return "wake-up → first write, \(turns) turns since start: " + text.joined(separator: "  ") + " µs"
    }

    /// Starts `client` on its loop and waits (10 s at most); the failure text, or nil once handshaken.
    static func connect(_ client: HubClient, skip: Bool) -> String? {
        let outcome = Mutex<String??>(nil)
        let done = DispatchSemaphore(value: 0)
        client.loop.execute {
            client.start(skipNegotiation: skip) { result in
                switch result {
                case .success: outcome.withLock { $0 = .some(nil) }
                case .failure(let e): outcome.withLock { $0 = .some(e.description) }
                }
                done.signal()
            }
        }
        if done.wait(timeout: .now() + 10) == .timedOut { return "no hub handshake within 10 s" }
        return outcome.withLock { $0 } ?? nil
    }

    static func sleepUntil(_ deadline: UInt64) {
        while true {
            let now = monotonicNanos()
            if now >= deadline { return }
            usleep(UInt32(min(deadline - now, 200_000_000) / 1000))
        }
    }
}

/// Runs `body` on `loop` and returns its value to the calling thread.
func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) -> T {
    let box = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    loop.execute {
        let v = body()
        box.withLock { $0 = v }
        done.signal()
    }
    done.wait()
    return box.withLock { $0 }!
}

/// Sends `SendMessage` at a steady rate from a 1 ms timer on the client's loop, catching up (in a burst) if
/// the loop ran late, and flushing each message at once so the stamped time is the write time.
final class PacedSender: @unchecked Sendable {
    let client: HubClient
    let rate: Int
    let size: Int
    let start: UInt64
    let end: UInt64
    let measureFrom: UInt64
    private(set) var sent = 0
    private(set) var sentMeasured = 0
    private var timer: TimerID?
    private var payload: [UInt8]
    private var record: [UInt8] = []

    init(client: HubClient, rate: Int, size: Int, start: UInt64, end: UInt64, measureFrom: UInt64) {
        self.client = client
        self.rate = rate
        self.size = size
        self.start = start
        self.end = end
        self.measureFrom = measureFrom
        payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
    }

    func begin() {
        timer = client.loop.scheduleRepeating(everyNanos: 1_000_000) { [weak self] in self?.tick() }
    }

    private func tick() {
        let now = monotonicNanos()
        if now >= end {
            if let timer { client.loop.cancel(timer) }
            timer = nil
            return
        }
        guard now >= start else { return }
        let due = Int(Double(now - start) * Double(rate) / 1e9) + 1 - sent
        for _ in 0..<max(0, min(due, 10_000)) { sendOne() }
    }

    private func sendOne() {
        sent += 1
        let t = monotonicNanos()
        if t >= measureFrom { sentMeasured += 1 }
        payload[0] = UInt8(ascii: "L")
        payload[1] = UInt8(ascii: "|")
        writeDigits(UInt64(sent), count: 10, at: 2)
        payload[12] = UInt8(ascii: "|")
        writeDigits(t, count: 20, at: 13)
        payload[33] = UInt8(ascii: "|")
        record.removeAll(keepingCapacity: true)
        payload.withUnsafeBytes { HubMessages.appendSendMessage(user: "bench", message: $0, into: &record) }
        record.withUnsafeBytes { client.send(record: $0) }
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
}

/// Collects latencies of `ReceiveMessage` records carrying benchmark payloads. Confined to one loop.
final class LatencyRecorder: @unchecked Sendable {
    let measureFrom: UInt64
    private var seen: [UInt8]
    private var samples: [UInt64] = []
    private(set) var uniqueMeasured = 0
    private(set) var duplicates = 0
    private(set) var malformed = 0

    init(measureFrom: UInt64, expected: Int) {
        self.measureFrom = measureFrom
        seen = [UInt8](repeating: 0, count: expected)
        samples.reserveCapacity(expected)
    }

    func record(_ record: UnsafeRawBufferPointer, now: UInt64) {
        guard let (seq, sentAt) = Self.parse(record) else {
            // Pings ({"type":6}) and anything else that isn't ours.
            if !record.starts(with: "{\"type\":6".utf8) { malformed += 1 }
            return
        }
        let index = Int(seq)
        if index >= seen.count { seen.append(contentsOf: repeatElement(0, count: max(index + 1 - seen.count, seen.count))) }
        if seen[index] != 0 {
            duplicates += 1
            return
        }
        seen[index] = 1
        guard sentAt >= measureFrom else { return }
        uniqueMeasured += 1
        samples.append(now >= sentAt ? now - sentAt : 0)
    }

    /// The seq and send time of a latency stamp (`"L|…`) in `record`.
    static func parse(_ record: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        BenchStamp.find(in: record, kinds: (UInt8(ascii: "L"), UInt8(ascii: "L"))).map { ($0.id, $0.sentAt) }
    }

    func result(sent: Int) -> LatencyResult {
        LatencyResult(
            samples: samples, lost: max(0, sent - uniqueMeasured), duplicates: duplicates, malformed: malformed)
    }
}

/// Percentiles of one path.
struct LatencyResult: Sendable, CustomStringConvertible {
    var samples: [UInt64]
    var lost: Int
    var duplicates: Int
    var malformed: Int

    var description: String {
        var s = samples
        s.sort()
        guard !s.isEmpty else { return "no messages received (lost \(lost))" }
        func p(_ q: Double) -> String { micros(Self.percentile(q, of: s)) }
        var text = "count \(s.count)  p50 \(p(0.5))  p90 \(p(0.9))  p99 \(p(0.99))  p99.9 \(p(0.999))  max \(micros(s.last!)) µs"
        text += "  lost \(lost)  duplicates \(duplicates)"
        if malformed > 0 { text += "  unparsed \(malformed)" }
        return text
    }

    /// The `q` quantile (0…1) of `sorted` (ascending, not empty): the smallest sample with at least that share at
    /// or below it.
    static func percentile(_ q: Double, of sorted: [UInt64]) -> UInt64 {
        sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }

    private func micros(_ nanos: UInt64) -> String {
        String(format: "%.1f", Double(nanos) / 1000)
    }
}
