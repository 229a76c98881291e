/// The stateful-reconnect bookkeeping of one connection (Ack and Sequence messages), as a value: no sockets, no
/// clock. It follows what the ASP.NET Core server and the JS/.NET clients do (their `MessageBuffer`):
///
/// - **Sending.** Tracked messages (``HubMessage/isSequenced``: Invocation, StreamItem, Completion,
///   StreamInvocation, CancelInvocation) get ids 1, 2, 3, … in the order they are sent. Each is kept until the
///   client's `Ack{id}` covers it, within ``limit`` bytes.
/// - **Receiving.** Tracked messages from the client are counted the same way; ``ackDue()`` says when to send
///   `Ack{highest received}` (the connection asks about once a second).
/// - **Reconnecting.** ``reattached()`` gives the `Sequence` id (the oldest unacked id, or `totalSent + 1`) and the
///   messages to send again, in order. Until the client's own `Sequence` arrives every message from it is dropped;
///   then it sets the next expected id, and messages at or below the highest already processed are duplicates.
///   A `Sequence` beyond what was received is an error (``sequenceGapError``).
///
/// **A full buffer.** ASP.NET Core makes the sender wait for Acks. A broadcast can't wait for one slow client here,
/// so a tracked message that doesn't fit is sent but not kept, and the buffer notes the gap. Once the client acks
/// past the gap, everything unacked is in the buffer again (``canReplay``). A transport drop while a gap is open
/// can't be repaired: the connection then ends as a non-stateful one would.
///
/// `Message` is whatever the connection needs to send again (encoded bytes, a shared broadcast); its byte count is
/// given with it.
struct StatefulReconnectBuffer<Message> {
    /// What to do with a message the client sent.
    enum Verdict: Equatable {
        /// Hand it to the hub as usual.
        case process
        /// Drop it: a duplicate, one sent before the client's `Sequence`, or an Ack/Sequence already applied here.
        case skip
        /// Close the connection with this error (a `Sequence` that skips messages).
        case fail(String)
    }

    /// ASP.NET Core's text for a `Sequence` id beyond the next expected one.
    static var sequenceGapError: String { "Sequence ID greater than amount of messages we've received." }

    /// Bytes of unacked messages kept at most (`StatefulReconnectBufferSize`).
    let limit: Int

    // MARK: Sending side

    /// Tracked messages sent so far (the id of the last one).
    private(set) var totalSent: Int64 = 0
    /// The highest id the client acked.
    private(set) var acked: Int64 = 0
    /// Bytes of the messages kept.
    private(set) var bufferedBytes = 0
    /// The highest id sent but not kept (0: none). Replay is possible once the client acked it.
    private(set) var missingThrough: Int64 = 0
    private var entries: [(id: Int64, message: Message, bytes: Int)] = []
    private var head = 0

    // MARK: Receiving side

    /// The id the next tracked message from the client gets.
    private(set) var nextExpected: Int64 = 1
    /// The highest tracked id from the client that was processed.
    private(set) var highestReceived: Int64 = 0
    private var lastAckSent: Int64 = 0
    /// After a reconnect, until the client's `Sequence`: everything else from the client is dropped.
    private(set) var waitingForSequence = false

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Messages kept for a replay.
    var bufferedCount: Int { entries.count - head }

    /// Whether every unacked message is kept, so that a reconnect can be repaired.
    var canReplay: Bool { missingThrough <= acked }

    /// Numbers a tracked message being sent and keeps it if it fits.
    /// - Returns: its id.
    @discardableResult
    mutating func track(_ message: Message, bytes: Int) -> Int64 {
        totalSent += 1
        if bytes <= limit - bufferedBytes {
            entries.append((totalSent, message, bytes))
            bufferedBytes += bytes
        } else {
            missingThrough = totalSent
        }
        return totalSent
    }

    /// The client received everything up to `sequenceId`: those messages are dropped. An id beyond what was sent
    /// counts as everything sent; an old or negative one changes nothing.
    mutating func ack(_ sequenceId: Int64) {
        let upTo = min(sequenceId, totalSent)
        guard upTo > acked else { return }
        acked = upTo
        while head < entries.count, entries[head].id <= upTo {
            bufferedBytes -= entries[head].bytes
            head += 1
        }
        if head == entries.count {
            entries.removeAll(keepingCapacity: entries.count <= 64)
            head = 0
        } else if head >= 64, head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// A new transport took over: the `Sequence` id to send first and the unacked messages to send again, in order;
    /// nil when a gap makes that impossible (``canReplay``). From now on the client's messages are dropped until its
    /// `Sequence` arrives.
    mutating func reattached() -> (sequenceId: Int64, messages: [Message])? {
        guard canReplay else { return nil }
        waitingForSequence = true
        return (acked + 1, entries[head...].map(\.message))
    }

    // MARK: Receiving

    /// Decides on a message from the client, and applies an Ack or Sequence.
    mutating func received(_ message: HubMessage) -> Verdict {
        if waitingForSequence {
            guard case .sequence = message else { return .skip }
            waitingForSequence = false
        }
        switch message {
        case .sequence(let id):
            guard id <= nextExpected else { return .fail(Self.sequenceGapError) }
            nextExpected = id
            return .skip
        case .ack(let id):
            ack(id)
            return .skip
        default:
            guard message.isSequenced else { return .process }
            let id = nextExpected
            nextExpected &+= 1
            guard id > highestReceived else { return .skip }
            highestReceived = id
            return .process
        }
    }

    /// The `Ack` id to send now, if tracked messages arrived since the last one (call about once a second).
    mutating func ackDue() -> Int64? {
        guard highestReceived > lastAckSent else { return nil }
        lastAckSent = highestReceived
        return highestReceived
    }
}
