import Glibc

/// A failed system call: which call, and errno.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public var call: String
    public var errno: Int32

    public init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno)))"
    }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC).
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Wall-clock time in milliseconds since 1970 (for display only, never for timeouts).
public func wallClockMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Wall-clock time in microseconds since 1970.
public func wallClockMicros() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
}

/// Ignore SIGPIPE once for the whole process: a write to a closed socket must return EPIPE, not kill us.
public func ignoreSIGPIPE() {
    _ = signal(SIGPIPE, SIG_IGN)
}
