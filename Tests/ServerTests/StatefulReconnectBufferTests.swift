import Testing

@testable import SignalRMesh

/// The stateful-reconnect state machine alone: numbering, Ack trimming, replay, duplicates, the Sequence gap error
/// and the byte limit.
@Suite struct StatefulReconnectBufferTests {
    typealias Buffer = StatefulReconnectBuffer<Int>

    static let invocation = HubMessage.invocation(InvocationMessage(target: "M", arguments: []))

    @Test func tracksAndTrimsOnAck() {
        var b = Buffer(limit: 1000)
        for i in 1...5 { #expect(b.track(i * 10, bytes: 10) == Int64(i)) }
        #expect(b.totalSent == 5 && b.bufferedBytes == 50 && b.bufferedCount == 5)
        b.ack(3)
        #expect(b.acked == 3 && b.bufferedBytes == 20 && b.bufferedCount == 2)
        b.ack(2)  // older than the last Ack: nothing
        b.ack(-7)
        #expect(b.acked == 3 && b.bufferedCount == 2)
        b.ack(99)  // beyond what was sent: everything sent
        #expect(b.acked == 5 && b.bufferedBytes == 0 && b.bufferedCount == 0)
        let replay = b.reattached()
        #expect(replay?.sequenceId == 6 && replay?.messages == [])
    }

    @Test func replaySendsTheOldestUnackedIdAndEveryUnackedMessageInOrder() {
        var b = Buffer(limit: 1000)
        for i in 1...4 { b.track(i, bytes: 5) }
        b.ack(1)
        let replay = b.reattached()
        #expect(replay?.sequenceId == 2 && replay?.messages == [2, 3, 4])
        // New messages after the reconnect continue the numbering.
        #expect(b.track(5, bytes: 5) == 5)
        #expect(b.reattached()?.messages == [2, 3, 4, 5])
    }

    @Test func emptyBufferReplaysNothingFromTotalSentPlusOne() {
        var b = Buffer(limit: 1000)
        #expect(b.reattached()?.sequenceId == 1)
        b.track(1, bytes: 3)
        b.ack(1)
        #expect(b.reattached()?.sequenceId == 2)
    }

    @Test func countsReceivedMessagesAndAcksOnlyWhenNewOnesArrived() {
        var b = Buffer(limit: 1000)
        #expect(b.ackDue() == nil)
        #expect(b.received(Self.invocation) == .process)
        #expect(b.received(.ping) == .process)  // not tracked, not counted
        #expect(b.received(.streamItem(invocationId: "1", item: .null)) == .process)
        #expect(b.received(.completion(invocationId: "1", result: nil, error: nil)) == .process)
        #expect(b.received(.cancelInvocation(invocationId: "1")) == .process)
        #expect(b.received(.streamInvocation(InvocationMessage(invocationId: "2", target: "S", arguments: []))) == .process)
        #expect(b.received(.close(error: nil, allowReconnect: false)) == .process)
        #expect(b.highestReceived == 5 && b.nextExpected == 6)
        #expect(b.ackDue() == 5)
        #expect(b.ackDue() == nil)
        #expect(b.received(Self.invocation) == .process)
        #expect(b.ackDue() == 6)
    }

    @Test func anAckFromTheClientTrimsAndIsNotHandedToTheHub() {
        var b = Buffer(limit: 1000)
        for i in 1...3 { b.track(i, bytes: 1) }
        #expect(b.received(.ack(sequenceId: 2)) == .skip)
        #expect(b.acked == 2 && b.bufferedCount == 1)
        #expect(b.highestReceived == 0)  // Acks aren't numbered
    }

    @Test func afterAReconnectOnlyTheSequenceCountsThenDuplicatesAreDropped() {
        var b = Buffer(limit: 1000)
        for _ in 1...3 { #expect(b.received(Self.invocation) == .process) }
        _ = b.ackDue()
        b.track(1, bytes: 1)
        _ = b.reattached()
        #expect(b.waitingForSequence)
        // Anything before the client's Sequence is dropped, an Ack included.
        #expect(b.received(Self.invocation) == .skip)
        #expect(b.received(.ping) == .skip)
        #expect(b.received(.ack(sequenceId: 1)) == .skip)
        #expect(b.acked == 0)
        // The client resends from 2: 2 and 3 were processed already, 4 is new.
        #expect(b.received(.sequence(sequenceId: 2)) == .skip)
        #expect(!b.waitingForSequence)
        #expect(b.received(Self.invocation) == .skip)
        #expect(b.received(Self.invocation) == .skip)
        #expect(b.received(Self.invocation) == .process)
        #expect(b.highestReceived == 4)
        #expect(b.ackDue() == 4)
    }

    @Test func aSequenceBeyondWhatWasReceivedIsAnError() {
        var b = Buffer(limit: 1000)
        for _ in 1...3 { _ = b.received(Self.invocation) }
        #expect(Buffer.sequenceGapError == "Sequence ID greater than amount of messages we've received.")
        #expect(b.received(.sequence(sequenceId: 5)) == .fail(Buffer.sequenceGapError))
        #expect(b.received(.sequence(sequenceId: 4)) == .skip)  // the next expected id is fine
        #expect(b.received(Self.invocation) == .process)
        #expect(b.highestReceived == 4)
    }

    @Test func aSequenceIsAppliedOutsideAReconnectToo() {
        var b = Buffer(limit: 1000)
        #expect(b.received(.sequence(sequenceId: 1)) == .skip)
        #expect(b.received(.sequence(sequenceId: 2)) == .fail(Buffer.sequenceGapError))
    }

    @Test func aFullBufferSendsWithoutKeepingAndCanReplayOnceTheGapIsAcked() {
        var b = Buffer(limit: 100)
        b.track(1, bytes: 60)
        b.track(2, bytes: 50)  // doesn't fit: sent, not kept
        #expect(b.missingThrough == 2 && !b.canReplay && b.bufferedBytes == 60)
        b.track(3, bytes: 40)  // fits
        #expect(b.bufferedBytes == 100 && b.bufferedCount == 2)
        #expect(b.reattached() == nil)
        #expect(!b.waitingForSequence)
        b.ack(1)
        #expect(!b.canReplay)
        b.ack(2)
        #expect(b.canReplay)
        let replay = b.reattached()
        #expect(replay?.sequenceId == 3 && replay?.messages == [3])
    }

    @Test func aMessageLargerThanTheLimitIsNeverKept() {
        var b = Buffer(limit: 10)
        b.track(1, bytes: 11)
        #expect(b.bufferedCount == 0 && b.missingThrough == 1)
        var zero = Buffer(limit: 0)
        zero.track(1, bytes: 0)
        #expect(zero.bufferedCount == 1 && zero.canReplay)
        #expect(Buffer(limit: -5).limit == 0)
    }

    /// Random track/ack/reattach against a plain model: the kept bytes never pass the limit, and whenever a replay
    /// is possible it is exactly the unacked ids, in order.
    @Test func randomOperationsMatchAModel() {
        var rng = SeededGenerator(seed: 0x5EED)
        for _ in 0..<200 {
            let limit = Int.random(in: 0...300, using: &rng)
            var b = StatefulReconnectBuffer<Int64>(limit: limit)
            var sent: Int64 = 0
            var acked: Int64 = 0
            var kept: [Int64: Int] = [:]
            var missing: Int64 = 0
            for _ in 0..<300 {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<6:
                    let bytes = Int.random(in: 0...80, using: &rng)
                    sent += 1
                    let used = kept.filter { $0.key > acked }.values.reduce(0, +)
                    if used + bytes <= limit { kept[sent] = bytes } else { missing = sent }
                    #expect(b.track(sent, bytes: bytes) == sent)
                case 6..<9:
                    let id = Int64.random(in: -2...(sent + 2), using: &rng)
                    b.ack(id)
                    acked = max(acked, min(id, sent))
                default:
                    let replay = b.reattached()
                    if missing <= acked {
                        #expect(replay?.sequenceId == acked + 1)
                        #expect(replay?.messages == Array((acked + 1)...max(acked + 1, sent)).filter { $0 <= sent })
                    } else {
                        #expect(replay == nil)
                    }
                    _ = b.received(.sequence(sequenceId: 1))
                }
                let live = kept.filter { $0.key > acked }
                #expect(b.bufferedBytes == live.values.reduce(0, +))
                #expect(b.bufferedBytes <= limit)
                #expect(b.bufferedCount == live.count)
                #expect(b.totalSent == sent && b.acked == acked)
            }
        }
    }
}

/// A small deterministic generator (SplitMix64) so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
