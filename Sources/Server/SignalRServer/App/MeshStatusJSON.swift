import Mesh
import NetKit

/// Renders a ``MeshSnapshot`` as the JSON of `GET /api/mesh` (read by the web client and by operators).
enum MeshStatusJSON {
    static func render(_ s: MeshSnapshot, config: MeshConfig, loop: TurnHistogram = TurnHistogram()) -> [UInt8] {
        var fields: [(String, JSONValue)] = [
            ("node", .string(s.nodeId)),
            ("epoch", .integer(Int(s.epoch))),
            ("cluster", .string(s.cluster)),
            ("published", .integer(Int(s.published))),
            ("delivered", .integer(Int(s.delivered))),
            ("replayLogMessages", .integer(s.ownLogCount)),
            ("replayLogBytes", .integer(s.ownLogBytes)),
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
                ("since", .integer(Int(p.sinceMillis))),
                ("epoch", .integer(Int(p.epoch))),
                ("rttMicros", p.rttMicros.map { .integer(Int($0)) } ?? .null),
                ("dataSent", .integer(Int(p.dataSent))),
                ("dataReceived", .integer(Int(p.dataReceived))),
                ("relayed", .integer(Int(p.relayed))),
                ("duplicatesDropped", .integer(Int(p.duplicatesDropped))),
                ("outOfOrderDropped", .integer(Int(p.outOfOrderDropped))),
                ("staleDropped", .integer(Int(p.staleDropped))),
                ("replayBufferedMessages", .integer(p.replayBufferedMessages)),
                ("replayBufferedBytes", .integer(p.replayBufferedBytes)),
                ("gaps", .integer(Int(p.gaps))),
                ("sendGaps", .integer(Int(p.sendGaps))),
                ("dataWrites", .integer(Int(p.dataWrites))),
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
                ("epoch", .integer(Int(origin.epoch))),
                ("highestDelivered", .integer(Int(origin.highestDelivered))),
                ("gaps", .integer(Int(origin.gaps))),
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
                ("turns", .integer(Int(loop.count))),
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
