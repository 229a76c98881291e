import Testing

@testable import SignalRMesh

/// The long-polling rules (signalr-protocol.md 1.6) on the value type, with explicit times.
@Suite struct LongPollMachineTests {
    static let second: UInt64 = 1_000_000_000

    static func machine(limit: Int = 100, now: UInt64 = 0) -> LongPollMachine {
        LongPollMachine(pollTimeoutNanos: 90 * second, disconnectTimeoutNanos: 15 * second, maxBufferedBytes: limit, now: now)
    }

    static func enqueue(_ m: inout LongPollMachine, _ text: String, now: UInt64 = 0) -> (LongPollMachine.Effects, Bool) {
        Array(text.utf8).withUnsafeBytes { m.enqueue($0, now: now) }
    }

    typealias Reply = LongPollMachine.Reply

    @Test func theFirstPollReturnsAtOnceEvenWithDataWaiting() {
        var m = Self.machine()
        _ = Self.enqueue(&m, "{}\u{1E}")
        #expect(m.poll(ticket: 1, now: 0).replies == [Reply(ticket: 1, answer: .started)])
        // The data waits for the second poll, which gets it at once.
        #expect(m.poll(ticket: 2, now: 1).replies == [Reply(ticket: 2, answer: .data(Array("{}\u{1E}".utf8)))])
    }

    @Test func aWaitingPollGetsEverythingQueuedInOneFlush() {
        var m = Self.machine()
        _ = m.poll(ticket: 1, now: 0)
        #expect(m.poll(ticket: 2, now: 0).replies.isEmpty)
        #expect(m.hasPendingPoll)
        _ = Self.enqueue(&m, "a\u{1E}")
        _ = Self.enqueue(&m, "b\u{1E}")
        #expect(m.wantsFlush)
        #expect(m.flush(now: 5).replies == [Reply(ticket: 2, answer: .data(Array("a\u{1E}b\u{1E}".utf8)))])
        #expect(!m.hasPendingPoll && m.buffer.isEmpty)
        #expect(m.flush(now: 5).replies.isEmpty)
    }

    @Test func aNewerPollSupersedesTheWaitingOneWith204() {
        var m = Self.machine()
        _ = m.poll(ticket: 1, now: 0)
        _ = m.poll(ticket: 2, now: 0)
        #expect(m.poll(ticket: 3, now: 1).replies == [Reply(ticket: 2, answer: .noContent)])
        #expect(m.pending?.ticket == 3)
    }

    @Test func aPollTimesOutWith200Empty() {
        var m = Self.machine()
        _ = m.poll(ticket: 1, now: 0)
        _ = m.poll(ticket: 2, now: 10 * Self.second)
        #expect(m.tick(now: 99 * Self.second).replies.isEmpty)
        #expect(m.tick(now: 100 * Self.second).replies == [Reply(ticket: 2, answer: .timedOut)])
        // The inactivity clock starts when that poll ended.
        #expect(!m.tick(now: 114 * Self.second).finished)
        let effects = m.tick(now: 115 * Self.second)
        #expect(effects.finished && effects.transportClosed)
    }

    @Test func noPollForTheDisconnectTimeoutDisposesTheConnection() {
        var m = Self.machine(now: 3 * Self.second)
        #expect(m.tick(now: 17 * Self.second) == LongPollMachine.Effects())
        let effects = m.tick(now: 18 * Self.second)
        #expect(effects.transportClosed && effects.finished)
        #expect(m.phase == .closed)
    }

    @Test func aGonePollStartsTheInactivityClockAndStaleTicketsAreIgnored() {
        var m = Self.machine()
        _ = m.poll(ticket: 1, now: 0)
        _ = m.poll(ticket: 2, now: 0)
        m.pollGone(ticket: 1, now: 1)
        #expect(m.pending?.ticket == 2)
        m.pollGone(ticket: 2, now: 5 * Self.second)
        #expect(!m.hasPendingPoll)
        #expect(!m.tick(now: 19 * Self.second).finished)
        #expect(m.tick(now: 20 * Self.second).finished)
    }

    @Test func aGracefulCloseDeliversWhatIsQueuedThen204() {
        // Close with no poll waiting: the next poll gets the data, later ones 204.
        var m = Self.machine()
        _ = m.poll(ticket: 1, now: 0)
        _ = Self.enqueue(&m, "close\u{1E}")
        #expect(m.close(now: 0) == LongPollMachine.Effects())
        #expect(m.phase == .draining)
        #expect(m.poll(ticket: 2, now: 1).replies == [Reply(ticket: 2, answer: .data(Array("close\u{1E}".utf8)))])
        #expect(m.poll(ticket: 3, now: 2).replies == [Reply(ticket: 3, answer: .noContent)])
        // Close with a poll waiting: it gets the data at once.
        var w = Self.machine()
        _ = w.poll(ticket: 1, now: 0)
        _ = w.poll(ticket: 2, now: 0)
        _ = Self.enqueue(&w, "x")
        #expect(w.close(now: 0).replies == [Reply(ticket: 2, answer: .data([UInt8(ascii: "x")]))])
        // Nothing queued: 204.
        var e = Self.machine()
        _ = e.poll(ticket: 1, now: 0)
        _ = e.poll(ticket: 2, now: 0)
        let effects = e.close(now: 0)
        #expect(effects.replies == [Reply(ticket: 2, answer: .noContent)])
        #expect(!effects.transportClosed)
    }

    @Test func deleteAnswersTheWaitingPollWith204AndDropsTheBuffer() {
        var m = Self.machine()
        _ = m.poll(ticket: 1, now: 0)
        _ = m.poll(ticket: 2, now: 0)
        let effects = m.delete(now: 0)
        #expect(effects.replies == [Reply(ticket: 2, answer: .noContent)])
        #expect(effects.transportClosed && !effects.finished)
        #expect(m.delete(now: 0) == LongPollMachine.Effects())
        #expect(m.poll(ticket: 3, now: 1).replies == [Reply(ticket: 3, answer: .noContent)])
        // Forgotten after the disconnect timeout without polls.
        #expect(m.tick(now: 16 * Self.second).finished)
    }

    @Test func theBufferIsBoundedAndOverflowClosesTheConnection() {
        var m = Self.machine(limit: 10)
        _ = m.poll(ticket: 1, now: 0)
        _ = m.poll(ticket: 2, now: 0)
        #expect(Self.enqueue(&m, "0123456789").1 == false)
        #expect(m.buffer.count == 10)
        let (effects, overflowed) = Self.enqueue(&m, "x")
        #expect(overflowed)
        #expect(effects.transportClosed)
        #expect(effects.replies == [Reply(ticket: 2, answer: .noContent)])
        #expect(m.buffer.isEmpty && m.phase == .closed)
        #expect(Self.enqueue(&m, "y").1 == false)
        #expect(m.buffer.isEmpty)
    }
}
