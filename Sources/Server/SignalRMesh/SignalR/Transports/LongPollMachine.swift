/// The long-polling transport as a value: the outgoing buffer, the one outstanding poll, the poll and inactivity
/// timeouts, and what every event answers (signalr-protocol.md 1.6). No I/O and no clock of its own: every event
/// takes `now`, and the caller delivers the ``Reply`` values it returns to the polls they name.
///
/// Rules:
/// - the first poll is answered at once (200, empty, `application/octet-stream`) and starts the connection;
/// - a later poll waits for data (``flush(now:)`` answers it with everything buffered), or for the poll timeout
///   (200, empty, `text/plain`);
/// - a newer poll supersedes the outstanding one, which gets 204;
/// - once closed (by the server, by DELETE, by inactivity or by a buffer overflow) every poll gets 204, except
///   that data the server queued before a graceful close still goes out first;
/// - no poll outstanding for the disconnect timeout while open → the connection is disposed.
struct LongPollMachine: Equatable {
    /// How a poll is answered.
    enum Answer: Equatable {
        /// The first poll: 200, `application/octet-stream`, no body.
        case started
        /// 200, `application/octet-stream`, one or more framed hub messages.
        case data([UInt8])
        /// The poll timeout passed with nothing to send: 200, `text/plain`, no body.
        case timedOut
        /// 204: superseded by a newer poll, or the connection is closed.
        case noContent
    }

    /// A poll to answer, named by the ticket the caller gave it.
    struct Reply: Equatable {
        var ticket: UInt64
        var answer: Answer
    }

    enum Phase: Equatable {
        case open
        /// Closed by the server with data still to deliver: the next poll gets it, later ones 204.
        case draining
        case closed
    }

    /// What an event asks of the transport besides answering polls.
    struct Effects: Equatable {
        var replies: [Reply] = []
        /// Tell the hub connection its transport is gone (once, on the first move away from `open` that the hub
        /// did not ask for).
        var transportClosed = false
        /// The connection is over and nothing more will be answered: forget it (later polls are unknown ids).
        var finished = false
    }

    let pollTimeoutNanos: UInt64
    let disconnectTimeoutNanos: UInt64
    let maxBufferedBytes: Int

    private(set) var phase: Phase = .open
    /// The outstanding poll and when it arrived.
    private(set) var pending: (ticket: UInt64, since: UInt64)?
    private(set) var buffer: [UInt8] = []
    private(set) var polledOnce = false
    /// When the last poll ended (or the transport started): the inactivity clock while no poll is outstanding.
    private(set) var idleSince: UInt64

    init(pollTimeoutNanos: UInt64, disconnectTimeoutNanos: UInt64, maxBufferedBytes: Int, now: UInt64) {
        self.pollTimeoutNanos = pollTimeoutNanos
        self.disconnectTimeoutNanos = disconnectTimeoutNanos
        self.maxBufferedBytes = maxBufferedBytes
        self.idleSince = now
    }

    static func == (a: LongPollMachine, b: LongPollMachine) -> Bool {
        a.phase == b.phase && a.pending?.ticket == b.pending?.ticket && a.pending?.since == b.pending?.since
            && a.buffer == b.buffer && a.polledOnce == b.polledOnce && a.idleSince == b.idleSince
    }

    /// Whether a poll is outstanding.
    var hasPendingPoll: Bool { pending != nil }

    /// A poll arrived (`ticket` names it in the replies; tickets must be unique).
    mutating func poll(ticket: UInt64, now: UInt64) -> Effects {
        var effects = Effects()
        if let old = pending {
            effects.replies.append(Reply(ticket: old.ticket, answer: .noContent))
            pending = nil
        }
        idleSince = now
        switch phase {
        case .closed:
            effects.replies.append(Reply(ticket: ticket, answer: .noContent))
        case .draining:
            effects.replies.append(Reply(ticket: ticket, answer: buffer.isEmpty ? .noContent : .data(takeBuffer())))
            phase = .closed
        case .open:
            if !polledOnce {
                polledOnce = true
                effects.replies.append(Reply(ticket: ticket, answer: .started))
            } else if !buffer.isEmpty {
                effects.replies.append(Reply(ticket: ticket, answer: .data(takeBuffer())))
            } else {
                pending = (ticket, now)
            }
        }
        return effects
    }

    /// Queues framed hub bytes. Past ``maxBufferedBytes`` the connection is closed (the client stopped polling
    /// or can't keep up) and `overflowed` is true. Call ``flush(now:)`` later (once per loop turn) to answer an
    /// outstanding poll with everything queued meanwhile.
    mutating func enqueue(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> (effects: Effects, overflowed: Bool) {
        guard phase == .open, !bytes.isEmpty else { return (Effects(), false) }
        if bytes.count > maxBufferedBytes - buffer.count {
            var effects = abort(now: now)
            effects.transportClosed = true
            return (effects, true)
        }
        buffer.append(contentsOf: bytes)
        return (Effects(), false)
    }

    /// Whether ``flush(now:)`` would answer a poll now.
    var wantsFlush: Bool { pending != nil && !buffer.isEmpty }

    /// Answers the outstanding poll with everything queued, if there is both.
    mutating func flush(now: UInt64) -> Effects {
        guard let p = pending, !buffer.isEmpty else { return Effects() }
        pending = nil
        idleSince = now
        return Effects(replies: [Reply(ticket: p.ticket, answer: .data(takeBuffer()))])
    }

    /// The server ends the connection after what is queued (the hub's Close message, say).
    mutating func close(now: UInt64) -> Effects {
        guard phase == .open else { return Effects() }
        var effects = Effects()
        if let p = pending {
            pending = nil
            idleSince = now
            effects.replies.append(Reply(ticket: p.ticket, answer: buffer.isEmpty ? .noContent : .data(takeBuffer())))
            phase = .closed
        } else {
            phase = buffer.isEmpty ? .closed : .draining
        }
        return effects
    }

    /// DELETE from the client: the connection ends at once; an outstanding poll gets 204.
    mutating func delete(now: UInt64) -> Effects {
        guard phase != .closed else { return Effects() }
        let wasOpen = phase == .open
        var effects = abort(now: now)
        effects.transportClosed = wasOpen
        return effects
    }

    /// The outstanding poll `ticket` can no longer be answered (its client went away). A stale ticket is ignored.
    mutating func pollGone(ticket: UInt64, now: UInt64) {
        guard pending?.ticket == ticket else { return }
        pending = nil
        idleSince = now
    }

    /// The timeouts: the outstanding poll's, and the inactivity timeout when none is outstanding.
    mutating func tick(now: UInt64) -> Effects {
        var effects = Effects()
        if let p = pending {
            if now &- p.since >= pollTimeoutNanos {
                pending = nil
                idleSince = now
                effects.replies.append(Reply(ticket: p.ticket, answer: .timedOut))
            }
            return effects
        }
        guard now &- idleSince >= disconnectTimeoutNanos else { return effects }
        if phase == .open {
            effects.transportClosed = true
        }
        phase = .closed
        buffer = []
        effects.finished = true
        return effects
    }

    private mutating func abort(now: UInt64) -> Effects {
        var effects = Effects()
        if let p = pending {
            effects.replies.append(Reply(ticket: p.ticket, answer: .noContent))
            pending = nil
            idleSince = now
        }
        phase = .closed
        buffer = []
        return effects
    }

    private mutating func takeBuffer() -> [UInt8] {
        let out = buffer
        buffer = []
        return out
    }
}
