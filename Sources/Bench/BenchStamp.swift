import Glibc

/// The stamp Bench writes at the start of a message payload: `K|<id: 10 digits>|<sent: 20 digits>|`, where `K` is
/// one letter naming the workload (`L` latency and broadcast, `M` group message, `A` send-to-all). Found in a
/// received record by looking for `"K|` with `K` among the wanted letters.
enum BenchStamp {
    /// The stamp read from `record`: its letter, id and send time (monotonic ns), or nil when the record holds none
    /// of `kinds` (pings, completions, someone else's message).
    ///
    /// Looks at each `|` with `memchr` rather than at every byte: a `ReceiveMessage` record has its first `|`
    /// inside the stamp, so this is one `memchr` and two digit runs per benchmark message.
    static func find(in record: UnsafeRawBufferPointer, kinds: (UInt8, UInt8)) -> (kind: UInt8, id: UInt64, sentAt: UInt64)? {
        guard let base = record.baseAddress, record.count > LatencyBench.headerBytes else { return nil }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let count = record.count
        // From the first `|` through the last: headerBytes less the letter.
        let span = LatencyBench.headerBytes - 1
        var from = 2
        while from + span <= count {
            guard let hit = memchr(bytes + from, Int32(UInt8(ascii: "|")), count - from) else { return nil }
            let bar = bytes.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            let kind = bytes[bar - 1]
            if bytes[bar - 2] == UInt8(ascii: "\""), kind == kinds.0 || kind == kinds.1,
                bar + span <= count
            {
                guard let id = digits(bytes + bar + 1, count: 10), bytes[bar + 11] == UInt8(ascii: "|"),
                    let sentAt = digits(bytes + bar + 12, count: 20), bytes[bar + 32] == UInt8(ascii: "|")
                else { return nil }
                return (kind, id, sentAt)
            }
            from = bar + 1
        }
        return nil
    }

    static func find(in record: ArraySlice<UInt8>, kinds: (UInt8, UInt8)) -> (kind: UInt8, id: UInt64, sentAt: UInt64)? {
        record.withUnsafeBytes { find(in: $0, kinds: kinds) }
    }

    private static func digits(_ p: UnsafePointer<UInt8>, count: Int) -> UInt64? {
        var v: UInt64 = 0
        for k in 0..<count {
            let d = p[k] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            v = v &* 10 &+ UInt64(d)
        }
        return v
    }
}
