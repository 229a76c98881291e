import NetKit

/// The long-polling transport (signalr-protocol.md 1.6): server→client bytes wait in a bounded buffer for the
/// client's next poll; client→server bytes come in POSTs. Polls arrive through ``poll(_:now:)`` from anything that
/// can answer them (``LongPollResponder``), so a poll need not come from a local socket. The rules live in
/// ``LongPollMachine``; this class delivers its replies, batches sends per loop turn and reports to the hub.
/// Confined to its loop; the endpoint ticks it (poll and inactivity timeouts).
final class LongPollingTransport: HubTransport {
    let loop: EventLoop
    var kind: TransportKind { .longPolling }
    var supportsBinary: Bool { true }
    var hasInherentKeepAlive: Bool { true }

    private var machine: LongPollMachine
    private var responder: (any LongPollResponder)?
    private var nextTicket: UInt64 = 0
    private weak var handler: (any HubTransportHandler)?
    private lazy var flushTask = BatchTask(loop: loop) { [weak self] in self?.flush() }
    private let clock: () -> UInt64
    /// Called once when the transport is over and can be forgotten (the endpoint drops it from its table).
    var onFinished: (() -> Void)?
    /// Called when the outgoing buffer overflowed and the connection was closed (the endpoint logs it, throttled).
    var onOverflow: (() -> Void)?
    private(set) var isFinished = false
    /// Where the first poll came from (each poll may come on another socket; logs only).
    var remoteAddress: SocketAddress?

    /// - Parameter clock: the time in nanoseconds (the loop's, or a test's).
    init(loop: EventLoop, pollTimeout: Double, disconnectTimeout: Double, maxBufferedBytes: Int, clock: @escaping () -> UInt64) {
        self.loop = loop
        self.clock = clock
        machine = LongPollMachine(
            pollTimeoutNanos: UInt64(pollTimeout * 1e9), disconnectTimeoutNanos: UInt64(disconnectTimeout * 1e9),
            maxBufferedBytes: maxBufferedBytes, now: clock())
    }

    var phase: LongPollMachine.Phase { machine.phase }
    var hasPendingPoll: Bool { machine.hasPendingPoll }
    var bufferedBytes: Int { machine.buffer.count }
    /// What waits for the next poll (a stream's next item waits while this is large).
    var pendingWriteBytes: Int { bufferedBytes }

    // MARK: HubTransport

    func start(handler: any HubTransportHandler, leftover: [UInt8]) {
        self.handler = handler
        if !leftover.isEmpty { _ = receive(leftover) }
    }

    func send(_ bytes: [UInt8], format: TransferFormat) {
        bytes.withUnsafeBytes { enqueue($0) }
    }

    func send(_ message: OutgoingMessage, kind: HubProtocolKind) {
        message.withPayload(kind) { enqueue($0) }
    }

    func close() {
        apply(machine.close(now: clock()))
    }

    // MARK: Requests

    /// A poll: answered now (first poll, data waiting, closed) or later (data, timeout, superseded, closed).
    func poll(_ responder: any LongPollResponder) {
        nextTicket += 1
        let ticket = nextTicket
        let previous = self.responder
        self.responder = responder
        // The machine's replies name the tickets; the old responder is answered through `previous`.
        let effects = machine.poll(ticket: ticket, now: clock())
        for reply in effects.replies where reply.ticket != ticket {
            previous?.respond(reply.answer)
        }
        if machine.hasPendingPoll {
            responder.onGone = { [weak self, weak responder] in
                guard let self, let responder, self.responder === responder else { return }
                self.responder = nil
                self.machine.pollGone(ticket: ticket, now: self.clock())
            }
        } else {
            self.responder = nil
        }
        for reply in effects.replies where reply.ticket == ticket {
            responder.respond(reply.answer)
        }
        report(effects)
    }

    /// A POST body for the hub: false when the connection is already over (the POST gets 404).
    func receive(_ body: [UInt8]) -> Bool {
        guard machine.phase == .open else { return false }
        handler?.transportActivity()
        body.withUnsafeBytes { handler?.transportReceived($0) }
        return true
    }

    /// DELETE: ends the connection; an outstanding poll gets 204.
    func delete() {
        apply(machine.delete(now: clock()))
    }

    /// The poll timeout and the inactivity timeout.
    func tick() {
        guard !isFinished else { return }
        apply(machine.tick(now: clock()))
    }

    // MARK: Internals

    private func enqueue(_ bytes: UnsafeRawBufferPointer) {
        let (effects, overflowed) = machine.enqueue(bytes, now: clock())
        if overflowed { onOverflow?() }
        apply(effects)
        if machine.wantsFlush { flushTask.arm() }
    }

    private func flush() {
        apply(machine.flush(now: clock()))
    }

    /// Delivers the replies (every reply here is for the outstanding poll) and the other effects.
    private func apply(_ effects: LongPollMachine.Effects) {
        if !effects.replies.isEmpty, let r = responder {
            responder = nil
            for reply in effects.replies { r.respond(reply.answer) }
        }
        report(effects)
    }

    private func report(_ effects: LongPollMachine.Effects) {
        if effects.transportClosed, let h = handler {
            handler = nil
            h.transportClosed()
        }
        if effects.finished && !isFinished {
            isFinished = true
            onFinished?()
            onFinished = nil
        }
    }
}
