/// Values with deadlines (nanoseconds on any clock), given back once each when their deadline has passed: a hashed
/// timing wheel. A value type, fed time by ``expire(now:into:)``; no clock, no callbacks.
///
/// Each entry sits in the slot of its deadline's tick (`deadline / resolution`, modulo the slot count), on a doubly
/// linked list threaded through one node array, so that insert, remove and move are O(1) and need no allocation
/// once the array has grown. ``expire(now:into:)`` walks only the slots of the ticks since the last call (all of
/// them once at most, however far time jumped) and, in each, takes the entries whose exact deadline is `<= now`;
/// an entry of a later round (a deadline more than `slotCount` ticks ahead) stays where it is until its round comes.
/// So an entry comes out at the first `expire` whose `now` reaches its deadline, never before, and only once.
///
/// Why a wheel, not a min-heap: the connections' deadlines are a few seconds to a minute ahead and are moved often
/// (every Ping, every connection's idle-buffer release); a wheel does that in O(1) with no sift and no back-pointer
/// updates in the values, and a tick costs the entries due plus the few later-round ones sharing their slots.
///
/// Memory: one node per entry (the value, the deadline, two 32-bit links: 24 bytes for a class reference), kept in
/// an array whose capacity doubles as it grows; freed nodes are reused.
struct DeadlineWheel<Value> {
    /// An entry's place; stays valid until the entry is removed or expires (then its node may be reused).
    struct Handle: Equatable {
        fileprivate(set) var index: UInt32
        /// No entry (index 0 is a slot's list head, never an entry).
        static var none: Handle { Handle(index: 0) }
        var isNone: Bool { index == 0 }
    }

    private struct Node {
        var value: Value?
        var deadline: UInt64
        var prev: UInt32
        var next: UInt32
    }

    /// Nanoseconds per tick.
    let resolution: UInt64
    /// The slots' list heads are nodes `0..<slotCount` (circular lists, so unlinking needs no slot number).
    let slotCount: Int
    private var nodes: [Node]
    /// Freed entry nodes, chained through `next` (0: none).
    private var freeHead: UInt32 = 0
    /// The tick of the last `expire` (its slot is walked again next time: entries later in that tick wait there).
    private var cursor: UInt64 = 0
    /// Entries in the wheel.
    private(set) var count = 0

    /// - Parameters:
    ///   - resolution: nanoseconds per slot (the heartbeat's period suits: each tick walks one slot).
    ///   - slotCount: slots in one turn; deadlines within one turn cost nothing extra to skip.
    init(resolution: UInt64 = 1_000_000_000, slotCount: Int = 64) {
        precondition(resolution > 0 && slotCount > 0 && slotCount < Int(UInt32.max / 2))
        self.resolution = resolution
        self.slotCount = slotCount
        nodes = (0..<slotCount).map { i in Node(value: nil, deadline: 0, prev: UInt32(i), next: UInt32(i)) }
    }

    /// Adds `value`, due at `deadline` (a deadline already past comes out at the next ``expire(now:into:)``).
    mutating func insert(_ value: Value, deadline: UInt64) -> Handle {
        let index: UInt32
        if freeHead != 0 {
            index = freeHead
            freeHead = nodes[Int(index)].next
            nodes[Int(index)] = Node(value: value, deadline: deadline, prev: 0, next: 0)
        } else {
            precondition(nodes.count < Int(UInt32.max), "DeadlineWheel: too many entries")
            index = UInt32(nodes.count)
            nodes.append(Node(value: value, deadline: deadline, prev: 0, next: 0))
        }
        link(index)
        count += 1
        return Handle(index: index)
    }

    /// Takes the entry out; returns its value (nil for ``Handle/none``).
    @discardableResult
    mutating func remove(_ handle: Handle) -> Value? {
        guard !handle.isNone else { return nil }
        let i = Int(handle.index)
        precondition(i >= slotCount && i < nodes.count && nodes[i].value != nil, "DeadlineWheel: stale handle")
        unlink(handle.index)
        let value = nodes[i].value
        free(handle.index)
        return value
    }

    /// Gives the entry a new deadline (same handle).
    mutating func move(_ handle: Handle, to deadline: UInt64) {
        let i = Int(handle.index)
        precondition(i >= slotCount && i < nodes.count && nodes[i].value != nil, "DeadlineWheel: stale handle")
        unlink(handle.index)
        nodes[i].deadline = deadline
        link(handle.index)
    }

    /// The entry's deadline.
    func deadline(of handle: Handle) -> UInt64 {
        let i = Int(handle.index)
        precondition(i >= slotCount && i < nodes.count && nodes[i].value != nil, "DeadlineWheel: stale handle")
        return nodes[i].deadline
    }

    /// Takes out every entry whose deadline is `<= now` and appends its value to `due` (in no particular order).
    /// Walks the slots of the ticks from the last call's to `now`'s (each slot once at most); time going back
    /// walks only the last call's slot.
    mutating func expire(now: UInt64, into due: inout [Value]) {
        let target = now / resolution
        let steps = target > cursor ? min(target - cursor, UInt64(slotCount - 1)) : 0
        var tick = cursor
        for _ in 0...steps {
            let head = UInt32(tick % UInt64(slotCount))
            var i = nodes[Int(head)].next
            while i != head {
                let next = nodes[Int(i)].next
                if nodes[Int(i)].deadline <= now {
                    unlink(i)
                    due.append(nodes[Int(i)].value!)
                    free(i)
                }
                i = next
            }
            tick &+= 1
        }
        cursor = max(cursor, target)
    }

    // MARK: Lists

    /// Appends node `i` to its deadline's slot (the cursor's slot for a deadline already past).
    private mutating func link(_ i: UInt32) {
        let tick = max(nodes[Int(i)].deadline / resolution, cursor)
        let head = UInt32(tick % UInt64(slotCount))
        let last = nodes[Int(head)].prev
        nodes[Int(i)].prev = last
        nodes[Int(i)].next = head
        nodes[Int(last)].next = i
        nodes[Int(head)].prev = i
    }

    private mutating func unlink(_ i: UInt32) {
        let (prev, next) = (nodes[Int(i)].prev, nodes[Int(i)].next)
        nodes[Int(prev)].next = next
        nodes[Int(next)].prev = prev
    }

    private mutating func free(_ i: UInt32) {
        nodes[Int(i)].value = nil
        nodes[Int(i)].next = freeHead
        freeHead = i
        count -= 1
    }
}
