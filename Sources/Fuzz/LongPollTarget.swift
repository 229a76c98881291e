@testable import SignalRMesh

/// Fuzzes ``LongPollMachine`` (the long-polling transport's rules) with a script: each payload byte is an event
/// (poll, enqueue, flush, close, DELETE, a poll's client gone, time passing), some followed by an argument byte.
///
/// Invariants: at most one poll outstanding, and it is the newest unanswered one; every poll is answered at most
/// once, and by the end (close, then enough time) every poll was answered or gone; `started` answers exactly the
/// first poll; a timeout answer only after the poll timeout; data comes out in order, exactly as queued, never
/// more than the cap; nothing waits once closed; the hub is told `transportClosed` at most once, never after a
/// close it asked for itself.
enum LongPollTarget {
    static let second: UInt64 = 1_000_000_000

    static func run(_ input: FuzzInput) {
        let limit = input.flag(0) ? 16 : 256
        let pollTimeout = (input.flag(1) ? 2 : 90) * second
        let disconnectTimeout = (input.flag(2) ? 1 : 15) * second
        var now: UInt64 = 1_000
        var m = LongPollMachine(
            pollTimeoutNanos: pollTimeout, disconnectTimeoutNanos: disconnectTimeout, maxBufferedBytes: limit, now: now)
        var nextTicket: UInt64 = 0
        var arrived: [UInt64: UInt64] = [:]
        var answered: Set<UInt64> = []
        var gone: Set<UInt64> = []
        var expected: [UInt8] = []
        var started = false
        var transportClosedCount = 0
        var serverClosed = false
        var finished = false

        func check(_ e: LongPollMachine.Effects) {
            for reply in e.replies {
                precondition(reply.ticket >= 1 && reply.ticket <= nextTicket, "reply to a poll never made")
                precondition(!answered.contains(reply.ticket) && !gone.contains(reply.ticket), "poll answered twice")
                answered.insert(reply.ticket)
                switch reply.answer {
                case .started:
                    precondition(!started && reply.ticket == 1, "started answers only the first poll")
                    started = true
                case .data(let d):
                    precondition(!d.isEmpty && d.count <= limit, "data answer size")
                    precondition(expected.starts(with: d), "data out of order or altered")
                    expected.removeFirst(d.count)
                case .timedOut:
                    precondition(now &- arrived[reply.ticket]! >= pollTimeout, "timed out early")
                case .noContent:
                    break
                }
            }
            if e.transportClosed {
                transportClosedCount += 1
                precondition(transportClosedCount == 1 && !serverClosed, "transportClosed twice or after a server close")
            }
            if e.finished {
                precondition(!m.hasPendingPoll, "finished with a poll outstanding")
                finished = true
            }
            if let p = m.pending {
                precondition(p.ticket == nextTicket && !answered.contains(p.ticket) && !gone.contains(p.ticket), "pending poll")
                precondition(m.phase == .open, "a poll waits on a closed connection")
            }
            // Answered and gone are disjoint; together they are every poll but the outstanding one.
            precondition(answered.count + gone.count == Int(nextTicket) - (m.hasPendingPoll ? 1 : 0), "a poll was dropped without an answer")
            precondition(m.buffer.count <= limit, "buffer over its cap")
            if m.phase == .closed { expected.removeAll() }
            precondition(m.buffer == expected, "buffer differs from what was queued and not delivered")
        }

        var i = 0
        let script = input.payload
        func arg() -> Int {
            guard i < script.count else { return 0 }
            defer { i += 1 }
            return Int(script[i])
        }
        while i < script.count {
            let op = script[i] % 8
            i += 1
            switch op {
            case 0:
                nextTicket += 1
                arrived[nextTicket] = now
                let wasOpen = m.phase == .open
                let e = m.poll(ticket: nextTicket, now: now)
                check(e)
                if !wasOpen { precondition(answered.contains(nextTicket), "a poll waits on a closed connection") }
            case 1:
                let n = arg() % (limit + 8)
                let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &+ i) }
                let wasOpen = m.phase == .open
                let room = limit - m.buffer.count
                if wasOpen && n <= room { expected += bytes }
                let (e, overflowed) = bytes.withUnsafeBytes { m.enqueue($0, now: now) }
                precondition(overflowed == (wasOpen && n > room), "overflow exactly past the cap")
                check(e)
            case 2:
                check(m.flush(now: now))
            case 3:
                let wasOpen = m.phase == .open
                let e = m.close(now: now)
                if wasOpen { serverClosed = true }
                check(e)
            case 4:
                check(m.delete(now: now))
            case 5:
                // The outstanding poll, or any older ticket (stale: must change nothing).
                let pick = arg()
                let t = pick % 2 == 0 ? (m.pending?.ticket ?? 0) : UInt64(pick) % (nextTicket + 1)
                if t == m.pending?.ticket { gone.insert(t) }
                m.pollGone(ticket: t, now: now)
                check(LongPollMachine.Effects())
            case 6:
                now &+= UInt64(arg()) * second / 4
                check(m.tick(now: now))
            default:
                now &+= UInt64(arg()) * 1_000_000
                check(m.tick(now: now))
            }
            if finished { break }
        }
        // The end: the server closes, time passes; every poll has been answered or was gone.
        if !finished {
            let wasOpen = m.phase == .open
            let e = m.close(now: now)
            if wasOpen { serverClosed = true }
            check(e)
            now &+= pollTimeout + disconnectTimeout
            check(m.tick(now: now))
            now &+= pollTimeout + disconnectTimeout
            check(m.tick(now: now))
        }
        precondition(!m.hasPendingPoll, "a poll still waits at the end")
    }
}
