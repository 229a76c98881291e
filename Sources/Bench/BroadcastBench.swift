import Foundation
import NetKit
import Synchronization

/// `Bench broadcast`: M senders at a fixed rate each, N receivers spread over the replicas; counts the
/// `ReceiveMessage` deliveries per second that reach the receivers (fan-out throughput).
enum BroadcastBench {
    static let usage = """
        Bench broadcast [--send URL] [--recv URL[,URL…]] [--senders 1] [--receivers 100] [--rate 100]
                        [--seconds 5] [--size 64] [--latency-receivers 100]
            --senders clients on --send each send --rate msg/s; --receivers clients spread over the --recv URLs
            (default the three local replicas) count what arrives. Prints deliveries/s, the share delivered, and
            p50/p99/max latency over --latency-receivers of the receivers, spread evenly (the others only count,
            which keeps the client's CPU per message below the server's).
        """

    static func run(_ args: [String]) throws(UsageError) {
        let flags = try Flags(
            command: "broadcast", args, valued: ["send", "recv", "senders", "receivers", "rate", "seconds", "size", "latency-receivers"])
        let sendURL = try flags.url("send", default: "http://127.0.0.1:5001/chatHub")
        var recvURLs: [HubURL] = []
        for text in flags.string(
            "recv", default: "http://127.0.0.1:5001/chatHub,http://127.0.0.1:5002/chatHub,http://127.0.0.1:5003/chatHub"
        ).split(separator: ",") {
            do { recvURLs.append(try HubURL(parsing: String(text))) } catch { throw UsageError("broadcast: --recv: \(error)") }
        }
        let senders = try flags.int("senders", default: 1, max: 1000)
        let receivers = try flags.int("receivers", default: 100, max: 19_500)
        let rate = try flags.int("rate", default: 100, max: 100_000)
        let seconds = try flags.double("seconds", default: 5, min: 1)
        let size = try flags.int("size", default: 64, min: LatencyBench.headerBytes, max: 16_000)
        let latencyReceivers = try flags.int("latency-receivers", default: 100, min: 0, max: 1000)
        guard seconds <= 600 else { throw UsageError("broadcast: --seconds ≤ 600") }
        // Every `sampleEvery`-th receiver records latencies.
        let sampleEvery = latencyReceivers == 0 ? Int.max : max(1, receivers / latencyReceivers)

        Out.progress("load average: \(SystemInfo.loadAverage())")
        let loops: [EventLoop]
        do {
            loops = try (0..<3).map { try EventLoop.spawn(name: "bench-\($0)") }
        } catch {
            Out.fail("event loops: \(error)")
        }
        let sendLoop = loops[0]
        let counter = Mutex<Int>(0)
        var recvClients: [HubClient] = []
        for i in 0..<receivers {
            let loop = loops[1 + i % 2]
            let c = HubClient(loop: loop, url: recvURLs[i % recvURLs.count])
            if let e = LatencyBench.connect(c, skip: true) { Out.fail("receiver \(i): \(e)") }
            recvClients.append(c)
        }
        var sendClients: [HubClient] = []
        for i in 0..<senders {
            let c = HubClient(loop: sendLoop, url: sendURL)
            if let e = LatencyBench.connect(c, skip: true) { Out.fail("sender \(i): \(e)") }
            sendClients.append(c)
        }
        Out.progress("\(receivers) receivers and \(senders) senders connected")
        let start = monotonicNanos() + 20_000_000
        let end = start + UInt64(seconds * 1e9)
        let tallies = recvClients.map { _ in DeliveryTally() }
        let recorders: [LatencyRecorder?] = recvClients.indices.map {
            $0 % sampleEvery == 0 ? LatencyRecorder(measureFrom: start, expected: Int(Double(rate * senders) * seconds) + 1024) : nil
        }
        // Receivers whose connection ended during the run, and the first reason (a replica drops a receiver that
        // falls 1 MiB behind).
        let lost = Mutex<(count: Int, first: String?, at: UInt64)>((0, nil, 0))
        for (i, c) in recvClients.enumerated() {
            let tally = tallies[i]
            let recorder = recorders[i]
            c.loop.execute {
                if let recorder {
                    c.onRecord = { record, now in recorder.record(record, now: now) }
                } else {
                    c.onRecord = { record, _ in tally.count(record) }
                    c.countsStampedMessages = true
                }
                c.onClose = { reason in
                    lost.withLock {
                        $0.count += 1
                        if $0.first == nil { $0 = ($0.count, reason, monotonicNanos()) }
                    }
                }
            }
        }
        let pacers = sendClients.map {
            PacedSender(client: $0, rate: rate, size: size, start: start, end: end, measureFrom: start)
        }
        sendLoop.execute { for p in pacers { p.begin() } }
        LatencyBench.sleepUntil(end + 1_000_000_000)
        let sent = onLoop(sendLoop) { pacers.reduce(0) { $0 + $1.sent } }
        let receiverList = recvClients
        var latencies: [UInt64] = []
        var duplicates = 0
        for loop in loops[1...] {
            let (part, samples, doubled) = onLoop(loop) {
                var sum = 0
                var samples: [UInt64] = []
                var doubled = 0
                for (k, c) in receiverList.enumerated() where c.loop === loop {
                    sum += c.counted + tallies[k].delivered
                    if let r = recorders[k] {
                        let result = r.result(sent: 0)
                        sum += r.uniqueMeasured
                        samples += result.samples
                        doubled += result.duplicates
                    }
                }
                return (sum, samples, doubled)
            }
            counter.withLock { $0 += part }
            latencies += samples
            duplicates += doubled
        }
        let delivered = counter.withLock { $0 }
        let (lostCount, firstLost, lostAt) = lost.withLock { $0 }
        for c in sendClients + recvClients { c.loop.execute { c.close() } }
        usleep(100_000)
        for loop in loops { loop.stop() }
        let expected = sent * receivers
        Out.line(
            "broadcast: \(senders) sender(s) × \(rate) msg/s → \(receivers) receivers over \(recvURLs.count) replica(s), "
                + "\(seconds) s; load average \(SystemInfo.loadAverage())")
        Out.line(
            String(
                format: "  %d sent, %d of %d deliveries (%.2f%%), %.0f deliveries/s", sent, delivered, expected,
                expected > 0 ? 100 * Double(delivered) / Double(expected) : 0, Double(delivered) / seconds))
        if !latencies.isEmpty {
            latencies.sort()
            func ms(_ q: Double) -> Double { Double(LatencyResult.percentile(q, of: latencies)) / 1e6 }
            Out.line(
                String(
                    format: "  latency over %d receivers: p50 %.1f ms, p99 %.1f ms, max %.1f ms; duplicates %d",
                    recorders.lazy.filter { $0 != nil }.count, ms(0.5), ms(0.99), ms(1), duplicates))
        }
        if lostCount > 0 {
            let when = Double(Int64(bitPattern: lostAt &- start)) / 1e9
            Out.line(String(format: "  %d receiver connection(s) ended during the run; the first at %.2f s: ", lostCount, when) + (firstLost ?? ""))
        }
    }
}

/// Counts benchmark messages one receiver got. Confined to its client's loop.
final class DeliveryTally: @unchecked Sendable {
    private(set) var delivered = 0

    func count(_ record: UnsafeRawBufferPointer) {
        if LatencyRecorder.parse(record) != nil { delivered += 1 }
    }
}
