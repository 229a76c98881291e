import Mesh
import NetKit

/// Renders a ``MeshSnapshot`` as the JSON of `GET /api/mesh` (read by the web client and by operators).
enum MeshStatusJSON {
    static func render(_ s: MeshSnapshot, config: MeshConfig, loop: TurnHistogram = TurnHistogram()) -> [UInt8] {
        var fields: [(String, JSONValue)] = [
            ("node", .string(s.nodeId)),
            ("epoch", .integer(s.epoch)),
            ("cluster", .string(s.cluster)),
            ("published", .integer(s.published)),
            ("delivered", .integer(s.delivered)),
            ("storedForRelay", .integer(s.storedForRelay)),
            ("replayLogMessages", .integer(s.ownLogCount)),
            ("replayLogBytes", .integer(s.ownLogBytes)),
            ("refusedHandshakes", .integer(s.refusedHandshakes)),
            ("throttledHandshakes", .integer(s.throttledHandshakes)),
            ("failedAuthentications", .integer(s.failedAuthentications)),
        ]
        var peers: [JSONValue] = []
        for p in s.peers {
            let entry = config.replica(p.id)
            var links: [(String, JSONValue)] = []
            for l in p.reportedLinks { links.append((l.peerId, .string(l.up ? "up" : "down"))) }
            var o: [(String, JSONValue)] = [
                ("id", .string(p.id)),
                ("http", .string(entry.map { "\($0.http)" } ?? "")),
                ("mesh", .string(p.address)),
                ("state", .string(p.state.rawValue)),
                ("reachable", .bool(p.reachable)),
                ("encrypted", .bool(p.encrypted)),
                ("since", .integer(p.sinceMillis)),
                ("epoch", .integer(p.epoch)),
                ("rttMicros", p.rttMicros.map { .integer($0) } ?? .null),
                ("dataSent", .integer(p.dataSent)),
                ("dataReceived", .integer(p.dataReceived)),
                ("filteredSkipped", .integer(p.filteredSkipped)),
                ("relayed", .integer(p.relayed)),
                ("duplicatesDropped", .integer(p.duplicatesDropped)),
                ("outOfOrderDropped", .integer(p.outOfOrderDropped)),
                ("staleDropped", .integer(p.staleDropped)),
                ("unexpectedOrigin", .integer(p.unexpectedOrigin)),
                ("replayBufferedMessages", .integer(p.replayBufferedMessages)),
                ("replayBufferedBytes", .integer(p.replayBufferedBytes)),
                ("gaps", .integer(p.gaps)),
                ("sendGaps", .integer(p.sendGaps)),
                ("dataWrites", .integer(p.dataWrites)),
                ("feeding", .array(p.feeding.map { .string($0) })),
                ("requested", .array(p.requested.map { .string($0) })),
                ("links", .object(links)),
            ]
            if let dialed = p.dialedByUs { o.append(("dialedByUs", .bool(dialed))) }
            peers.append(.object(o))
        }
        fields.append(("peers", .array(peers)))
        var origins: [JSONValue] = []
        for origin in s.origins {
            origins.append(.object([
                ("id", .string(origin.id)),
                ("epoch", .integer(origin.epoch)),
                ("highestDelivered", .integer(origin.highestDelivered)),
                ("gaps", .integer(origin.gaps)),
                ("logMessages", .integer(origin.logCount)),
                ("logBytes", .integer(origin.logBytes)),
            ]))
        }
        fields.append(("origins", .array(origins)))
        // Since start: per loop turn woken by I/O that wrote, wake-up → first write (this process's own share
        // of a message's trip; the rest is the kernel's). 250 ns resolution under 128 µs.
        func micros(_ nanos: UInt64) -> JSONValue {
            let hundredths = (nanos + 5) / 10
            let cents = hundredths % 100
            return .number("\(hundredths / 100).\(cents < 10 ? "0" : "")\(cents)")
        }
        fields.append((
            "loop",
            .object([
                ("turns", .integer(loop.count)),
                ("wakeToFirstWriteMicros", .object([
                    ("p50", micros(loop.percentileNanos(0.5))),
                    ("p90", micros(loop.percentileNanos(0.9))),
                    ("p99", micros(loop.percentileNanos(0.99))),
                    ("p999", micros(loop.percentileNanos(0.999))),
                    ("max", micros(loop.maxNanos)),
                ])),
            ])))
        var out: [UInt8] = []
        JSONWriter.write(.object(fields), into: &out)
        return out
    }
}
