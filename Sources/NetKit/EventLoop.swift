// NETKIT-READY
import CSystem
import Foundation
import Glibc
import Synchronization

/// Something registered with an ``EventLoop`` for readiness events on a descriptor.
public protocol EventHandler: AnyObject {
    /// Called on the loop thread with the epoll event bits.
    func handleEvents(_ events: UInt32)
}

/// epoll event bits, spelled out so callers don't fight the C import.
public enum IOEvent {
    public static let readable: UInt32 = 0x001      // EPOLLIN
    public static let writable: UInt32 = 0x004      // EPOLLOUT
    public static let error: UInt32 = 0x008         // EPOLLERR
    public static let hangup: UInt32 = 0x010        // EPOLLHUP
    public static let readHangup: UInt32 = 0x2000   // EPOLLRDHUP
}

/// Identifies a scheduled timer so it can be cancelled.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
}

/// A single-threaded reactor: epoll for readiness, an eventfd for cross-thread wake-ups, a timer heap, and a
/// flush list so that every write queued during one iteration leaves in one `writev` per connection.
///
/// Everything except ``execute(_:)``, ``stop()`` and ``inEventLoop`` must be called on the loop thread. Objects
/// owned by a loop (connections, parsers, hub connections) are confined to it, which is why they can be plain
/// classes without locks.
public final class EventLoop: @unchecked Sendable {
    public let name: String
    let epfd: Int32
    let wakeFd: Int32

    private struct Slot {
        var handler: (any EventHandler)?
        var generation: UInt32
    }
    private var slots: [Slot] = []
    private var generationCounter: UInt32 = 0

    private let pending = Mutex<[@Sendable () -> Void]>([])
    /// The tasks being run: swapped with `pending`, so neither array is reallocated per iteration.
    private var runningTasks: [@Sendable () -> Void] = []
    /// Armed ``BatchTask``s, run once each right before the flush.
    fileprivate var batchTasks: [BatchTask] = []
    /// Armed after-flush ``BatchTask``s (what the turn's writes handed to other loops).
    fileprivate var afterFlushTasks: [BatchTask] = []
    /// The armed tasks being run: swapped with one of the two lists above (one list runs at a time).
    private var runningBatch: [BatchTask] = []
    private let wakeArmed = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    private let stopRequested = Atomic<Bool>(false)
    private let threadID = Mutex<pthread_t?>(nil)

    private var timerHeap: [(deadline: UInt64, id: UInt64)] = []
    private var timerTasks: [UInt64: () -> Void] = [:]
    private var repeating: [UInt64: UInt64] = [:]   // id -> interval
    private var nextTimerID: UInt64 = 1

    var flushList: [TCPConnection] = []
    /// The connections being flushed (swapped with `flushList`).
    private var flushing: [TCPConnection] = []

    /// For each loop turn woken by I/O that wrote anything: time from the wake-up to its first `writev`, i.e.
    /// what this process spends reading, parsing and deciding before the first byte moves on. Everything else
    /// on a message's path is the kernel's.
    public private(set) var wakeToFirstWrite = TurnHistogram()
    private var awaitingFirstWrite = false
    /// For every loop turn: time from the wake-up (epoll_wait returning) to the end of the turn's work (events,
    /// timers, tasks and the writes they queued). A long turn delays everything else on the loop.
    public private(set) var turnTimes = TurnHistogram()
    /// When epoll_wait returned this turn (`now` moves on when timers run, after the events were handled).
    private var wokeAt: UInt64 = 0

    /// Called by connections right before a `writev`.
    @inline(__always)
    func willWrite() {
        guard awaitingFirstWrite else { return }
        awaitingFirstWrite = false
        wakeToFirstWrite.record(monotonicNanos() &- wokeAt)
    }

    /// Scratch buffer shared by every read on this loop: connections keep only their unparsed leftovers.
    let readBuffer: UnsafeMutableRawBufferPointer
    public static let readBufferSize = 64 * 1024

    /// Cached monotonic time for the current iteration (cheap "now" for hot paths).
    public private(set) var now: UInt64 = monotonicNanos()

    public init(name: String = "loop") throws {
        // writev can't take MSG_NOSIGNAL: without this a write to a peer that just closed kills the process.
        _ = EventLoop.sigpipeIgnored
        self.name = name
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw SystemError("epoll_create1") }
        wakeFd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFd >= 0 else { throw SystemError("eventfd") }
        readBuffer = .allocate(byteCount: EventLoop.readBufferSize, alignment: 16)
        guard csystem_epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFd, IOEvent.readable, UInt64(UInt32(bitPattern: wakeFd))) == 0 else {
            throw SystemError("epoll_ctl")
        }
    }

    private static let sigpipeIgnored: Bool = {
        ignoreSIGPIPE()
        return true
    }()

    deinit {
        close(epfd)
        close(wakeFd)
        readBuffer.deallocate()
    }

    /// Starts a loop on a new thread and returns once it runs.
    public static func spawn(name: String) throws -> EventLoop {
        let loop = try EventLoop(name: name)
        let thread = Thread { loop.run() }
        thread.name = name
        thread.start()
        while !loop.running.load(ordering: .acquiring) { usleep(100) }
        return loop
    }

    /// True on the loop's own thread.
    public var inEventLoop: Bool {
        guard let t = threadID.withLock({ $0 }) else { return false }
        return pthread_equal(t, pthread_self()) != 0
    }

    /// Runs `task` on the loop thread soon. Safe from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(task) }
        // On the loop thread the loop looks at `pending` before it sleeps again: writing the eventfd would
        // only cost a write, an extra epoll_wait and a read per call (the mesh schedules its pump this way
        // for every published message).
        if !inEventLoop { wake() }
    }

    private func wake() {
        if wakeArmed.exchange(true, ordering: .acquiringAndReleasing) == false {
            var one: UInt64 = 1
            _ = Glibc.write(wakeFd, &one, 8)
        }
    }

    /// Asks the loop to return from ``run()`` after the current iteration. Safe from any thread.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    // MARK: Registration

    func register(fd: Int32, handler: any EventHandler, events: UInt32) throws {
        let i = Int(fd)
        if i >= slots.count {
            slots.append(contentsOf: repeatElement(Slot(handler: nil, generation: 0), count: max(i + 1 - slots.count, slots.count)))
        }
        generationCounter &+= 1
        if generationCounter == 0 { generationCounter = 1 }
        slots[i] = Slot(handler: handler, generation: generationCounter)
        let data = UInt64(generationCounter) << 32 | UInt64(UInt32(bitPattern: fd))
        guard csystem_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, events, data) == 0 else {
            slots[i].handler = nil
            throw SystemError("epoll_ctl(ADD)")
        }
    }

    func modify(fd: Int32, events: UInt32) {
        let i = Int(fd)
        guard i < slots.count, slots[i].handler != nil else { return }
        let data = UInt64(slots[i].generation) << 32 | UInt64(UInt32(bitPattern: fd))
        _ = csystem_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, events, data)
    }

    func deregister(fd: Int32) {
        let i = Int(fd)
        guard i < slots.count else { return }
        slots[i].handler = nil
        _ = csystem_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0)
    }

    // MARK: Timers

    /// Runs `task` once after `nanos` on the loop thread. Loop thread only.
    @discardableResult
    public func schedule(afterNanos nanos: UInt64, _ task: @escaping () -> Void) -> TimerID {
        let id = nextTimerID
        nextTimerID += 1
        timerTasks[id] = task
        pushTimer(deadline: monotonicNanos() &+ nanos, id: id)
        return TimerID(raw: id)
    }

    /// Runs `task` every `nanos` until cancelled. Loop thread only.
    @discardableResult
    public func scheduleRepeating(everyNanos nanos: UInt64, _ task: @escaping () -> Void) -> TimerID {
        let id = schedule(afterNanos: nanos, task)
        repeating[id.raw] = nanos
        return id
    }

    public func cancel(_ timer: TimerID) {
        timerTasks[timer.raw] = nil
        repeating[timer.raw] = nil
    }

    private func pushTimer(deadline: UInt64, id: UInt64) {
        timerHeap.append((deadline, id))
        var i = timerHeap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if timerHeap[p].deadline <= timerHeap[i].deadline { break }
            timerHeap.swapAt(p, i)
            i = p
        }
    }

    private func popTimer() -> (deadline: UInt64, id: UInt64) {
        let top = timerHeap[0]
        let last = timerHeap.removeLast()
        if !timerHeap.isEmpty {
            timerHeap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < timerHeap.count && timerHeap[l].deadline < timerHeap[m].deadline { m = l }
                if r < timerHeap.count && timerHeap[r].deadline < timerHeap[m].deadline { m = r }
                if m == i { break }
                timerHeap.swapAt(i, m)
                i = m
            }
        }
        return top
    }

    private func runExpiredTimers() {
        let t = monotonicNanos()
        now = t
        while let first = timerHeap.first, first.deadline <= t {
            let entry = popTimer()
            guard let task = timerTasks[entry.id] else { continue }
            if let interval = repeating[entry.id] {
                // Re-arm from the planned deadline so a repeating timer doesn't drift, but never schedule in the past.
                pushTimer(deadline: max(entry.deadline &+ interval, t &+ interval / 2), id: entry.id)
            } else {
                timerTasks[entry.id] = nil
            }
            task()
        }
    }

    private func nextTimeoutMillis() -> Int32 {
        // Drop cancelled entries at the top so they don't cause spurious wake-ups.
        while let first = timerHeap.first, timerTasks[first.id] == nil { _ = popTimer() }
        guard let first = timerHeap.first else { return 1000 }
        let t = monotonicNanos()
        if first.deadline <= t { return 0 }
        let ms = (first.deadline - t + 999_999) / 1_000_000
        return Int32(min(ms, 1000))
    }

    // MARK: Running

    /// Runs the loop on the calling thread until ``stop()``.
    public func run() {
        threadID.withLock { $0 = pthread_self() }
        running.store(true, ordering: .releasing)
        let maxEvents = 256
        let evs = UnsafeMutablePointer<UInt32>.allocate(capacity: maxEvents)
        let datas = UnsafeMutablePointer<UInt64>.allocate(capacity: maxEvents)
        defer {
            evs.deallocate()
            datas.deallocate()
            running.store(false, ordering: .releasing)
        }
        while !stopRequested.load(ordering: .acquiring) {
            let hasPending = pending.withLock { !$0.isEmpty }
            let busy = hasPending || !flushList.isEmpty || !batchTasks.isEmpty || !afterFlushTasks.isEmpty
            let timeout = busy ? 0 : nextTimeoutMillis()
            let n = csystem_epoll_wait(epfd, evs, datas, Int32(maxEvents), timeout)
            now = monotonicNanos()
            wokeAt = now
            awaitingFirstWrite = n > 0
            if n < 0 && errno != EINTR {
                Logger(label: "netkit").error("epoll_wait failed", ["error": "\(SystemError("epoll_wait"))"])
            }
            if n > 0 {
                for k in 0..<Int(n) {
                    let data = datas[k]
                    let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
                    if fd == wakeFd {
                        var value: UInt64 = 0
                        _ = Glibc.read(wakeFd, &value, 8)
                        wakeArmed.store(false, ordering: .releasing)
                        continue
                    }
                    let generation = UInt32(truncatingIfNeeded: data >> 32)
                    let i = Int(fd)
                    // A descriptor closed earlier in this iteration may already be reused: the generation tells.
                    guard i < slots.count, slots[i].generation == generation, let handler = slots[i].handler else { continue }
                    handler.handleEvents(evs[k])
                }
            }
            runExpiredTimers()
            runPendingTasks()
            runBatchTasks(afterFlush: false)
            flushAll()
            runBatchTasks(afterFlush: true)
            turnTimes.record(monotonicNanos() &- wokeAt)
        }
    }

    private func runPendingTasks() {
        pending.withLock { swap(&$0, &runningTasks) }
        guard !runningTasks.isEmpty else { return }
        for task in runningTasks { task() }
        runningTasks.removeAll(keepingCapacity: true)
    }

    /// Runs the tasks armed to run before the flush (or, with `afterFlush`, after it), once each. The list is
    /// swapped with `runningBatch` first, so neither array is reallocated per turn and a task armed by one of them
    /// lands in the emptied list. The armed list is not an `inout` parameter: a running task may arm another, and
    /// that append during the call would be an overlapping access to it.
    private func runBatchTasks(afterFlush: Bool) {
        if afterFlush {
            swap(&afterFlushTasks, &runningBatch)
        } else {
            swap(&batchTasks, &runningBatch)
        }
        guard !runningBatch.isEmpty else { return }
        for task in runningBatch {
            task.armed = false
            task.body()
        }
        runningBatch.removeAll(keepingCapacity: true)
    }

    /// Writes everything queued during this iteration: one `writev` per connection.
    func flushAll() {
        var rounds = 0
        while !flushList.isEmpty && rounds < 4 {
            swap(&flushList, &flushing)
            // Walked in place: no retain and release per connection (`flushing` holds them; only this touches it).
            flushing.withUnsafeBufferPointer { batch in
                for i in batch.indices { batch[i].flushFromLoop() }
            }
            flushing.removeAll(keepingCapacity: true)
            rounds += 1
        }
    }
}

/// Work that batches whatever one loop iteration produced (the mesh pump: every message published or relayed in
/// the iteration leaves in one write). ``arm()`` it any number of times; it runs once, after the iteration's events,
/// timers and tasks and right before the writes leave. Made once and reused, so arming allocates nothing (unlike
/// ``EventLoop/execute(_:)``, which boxes a closure per call). Loop thread only.
public final class BatchTask {
    private unowned let loop: EventLoop
    fileprivate let body: () -> Void
    fileprivate var armed = false
    private let afterFlush: Bool

    /// `body` runs on the loop; capture its owner weakly or unowned (the loop keeps the task only while armed).
    /// `afterFlush`: run after the turn's writes instead of before them (what hands a turn's writes and reads to
    /// another loop, ``IOLoopGroup``).
    public init(loop: EventLoop, afterFlush: Bool = false, _ body: @escaping () -> Void) {
        self.loop = loop
        self.body = body
        self.afterFlush = afterFlush
    }

    public func arm() {
        guard !armed else { return }
        armed = true
        if afterFlush {
            loop.afterFlushTasks.append(self)
        } else {
            loop.batchTasks.append(self)
        }
    }
}
