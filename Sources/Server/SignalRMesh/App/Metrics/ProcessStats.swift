import Glibc

/// The process facts `/metrics` shows under the standard `process_*` names, read from Linux's `/proc`. Each is nil
/// where it can't be read (another OS, a restricted `/proc`): the metric is then left out.
struct ProcessStats: Equatable, Sendable {
    var residentBytes: UInt64?
    var virtualBytes: UInt64?
    /// User + system CPU time.
    var cpuSeconds: Double?
    /// Process start, seconds since 1970.
    var startTimeSeconds: Double?
    var openFileDescriptors: Int?
    /// The soft limit on open descriptors (`RLIMIT_NOFILE`).
    var maxFileDescriptors: UInt64?

    /// Reads this process's figures. Costs a few small reads plus one directory listing of `/proc/self/fd`
    /// (O(open descriptors)).
    static func current() -> ProcessStats {
        var stats = ProcessStats()
        if let stat = readSmallFile("/proc/self/stat") {
            stats.apply(
                stat: stat, clockTicksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))),
                pageSize: UInt64(max(0, sysconf(Int32(_SC_PAGESIZE)))), bootTimeSeconds: bootTime)
        }
        stats.openFileDescriptors = countOpenDescriptors()
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { stats.maxFileDescriptors = UInt64(limit.rlim_cur) }
        return stats
    }

    /// Fills the fields `/proc/self/stat` gives (see proc(5)): utime, stime, starttime, vsize and rss, counted
    /// from the last `)` since the command name may hold spaces and parentheses. Leaves them nil if it is
    /// malformed.
    mutating func apply(stat: String, clockTicksPerSecond: Double, pageSize: UInt64, bootTimeSeconds: Double?) {
        guard let close = stat.lastIndex(of: ")") else { return }
        // fields[0] is field 3 (state) of proc(5), so field n is fields[n - 3].
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        func field(_ n: Int) -> UInt64? { n - 3 < fields.count ? UInt64(fields[n - 3]) : nil }
        if clockTicksPerSecond > 0 {
            if let user = field(14), let system = field(15) { cpuSeconds = Double(user + system) / clockTicksPerSecond }
            if let start = field(22), let boot = bootTimeSeconds { startTimeSeconds = boot + Double(start) / clockTicksPerSecond }
        }
        virtualBytes = field(23)
        if let pages = field(24) { residentBytes = pages * pageSize }
    }

    /// The `btime` line of `/proc/stat` (boot time, seconds since 1970). Read once: it doesn't change.
    static let bootTime: Double? = readSmallFile("/proc/stat", limit: 1 << 20).flatMap(parseBootTime)

    static func parseBootTime(_ procStat: String) -> Double? {
        for line in procStat.split(separator: "\n") where line.hasPrefix("btime ") {
            return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }
        }
        return nil
    }

    /// Entries of `/proc/self/fd`, less the one the listing itself holds open.
    static func countOpenDescriptors() -> Int? {
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in name[0] == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return max(0, count - 1)
    }

    /// Up to `limit` bytes of a small file (a `/proc` file: its size shows as 0, so it is read until EOF).
    static func readSmallFile(_ path: String, limit: Int = 64 << 10) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - bytes.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
