import Foundation
import NetKit
import Synchronization

/// `Bench broadcast`: M senders at a fixed rate each, N receivers spread over the replicas; counts the
/// `ReceiveMessage` deliveries per second that reach the receivers (fan-out throughput).
enum BroadcastBench {
    static let usage = """
        Bench broadcast [--send URL] [--recv URL[,URL…]] [--senders 1] [--receivers 100] [--rate 100]
                        [--seconds 5] [--size 64]
            --senders clients on --send each send --rate msg/s; --receivers clients spread over the --recv URLs
            (default the three local replicas) count what arrives. Prints deliveries/s and the share delivered.
        """

    static func run(_ args: [String]) throws(UsageError) {
        let flags = try Flags(
            command: "broadcast", args, valued: ["send", "recv", "senders", "receivers", "rate", "seconds", "size"])
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
        guard seconds <= 600 else { throw UsageError("broadcast: --seconds ≤ 600") }

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
        let tallies = recvClients.map { _ in DeliveryTally() }
        for (c, tally) in zip(recvClients, tallies) {
            c.loop.execute {
                c.onRecord = { record, _ in tally.count(record) }
                c.countsStampedMessages = true
            }
        }
        let start = monotonicNanos() + 20_000_000
        let end = start + UInt64(seconds * 1e9)
        let pacers = sendClients.map {
            PacedSender(client: $0, rate: rate, size: size, start: start, end: end, measureFrom: start)
        }
        sendLoop.execute { for p in pacers { p.begin() } }
        LatencyBench.sleepUntil(end + 1_000_000_000)
        let sent = onLoop(sendLoop) { pacers.reduce(0) { $0 + $1.sent } }
        let receiverList = recvClients
        for loop in loops[1...] {
            let part = onLoop(loop) {
                zip(receiverList, tallies).filter { $0.0.loop === loop }.reduce(0) { $0 + $1.0.counted + $1.1.delivered }
            }
            counter.withLock { $0 += part }
        }
        let delivered = counter.withLock { $0 }
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
    }
}

/// Counts benchmark messages one receiver got. Confined to its client's loop.
final class DeliveryTally: @unchecked Sendable {
    private(set) var delivered = 0

    func count(_ record: UnsafeRawBufferPointer) {
        if LatencyRecorder.parse(record) != nil { delivered += 1 }
    }
}
