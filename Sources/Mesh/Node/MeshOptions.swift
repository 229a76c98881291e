import Foundation
import NetKit

/// Tunables of a ``MeshNode``. Defaults are the values in the design (MESH.md).
public struct MeshOptions: Sendable {
    /// This boot's epoch. nil (default): wall-clock microseconds, made greater than the one stored in
    /// ``epochStateFile`` if that is set. Tests set it to simulate restarts deterministically.
    public var epoch: UInt64?
    /// Optional file remembering the last epoch, so a clock stepped backwards can't reuse an old epoch.
    public var epochStateFile: String?
    /// A listener bound beforehand (see ``MeshListener``). nil (default): ``MeshNode/start()`` binds the
    /// mesh address from peers.json.
    public var listener: MeshListener?

    /// Messages retained per origin for replay and relay (default 100 000).
    public var logMaxCount: Int = OriginLog.defaultMaxCount
    /// Payload bytes retained per origin (default 64 MiB).
    public var logMaxBytes: Int = OriginLog.defaultMaxBytes
    /// Largest frame accepted from a peer (default 4 MiB). Bigger → protocol error, link closed.
    public var maxFrameBytes: Int = MeshProtocol.defaultMaxFrameBytes
    /// Largest frame accepted before the link is authenticated (default 1 KiB). Handshake frames are far
    /// smaller, and an unauthenticated link is fed at most this much (+ a 4-byte length) at a time, so a
    /// stranger can make us buffer about 1 KiB, not 4 MiB.
    public var maxHandshakeFrameBytes: Int = MeshProtocol.defaultMaxHandshakeFrameBytes
    /// Inbound connections allowed in handshake at once (default 32). Past that, new ones are closed at once,
    /// counted (``MeshSnapshot/refusedHandshakes``) and logged at a limited rate. Peers redial.
    public var maxInboundHandshakes: Int = 32
    /// Per-source limit on failed authentications (wrong secret: a failed key confirmation or an invalid PAKE
    /// share), at the acceptor per source address and at the dialer per peer (default: 3 free, then blocked 1 s,
    /// doubling per further failure up to 60 s, forgotten after 10 quiet minutes, 4096 sources). A blocked address's
    /// connections get a fixed REJECT and are closed before any handshake work, and are counted
    /// (``MeshSnapshot/refusedHandshakes``, ``MeshSnapshot/throttledHandshakes``); a blocked peer is not dialed until
    /// its block ends. A successful authentication clears the source.
    public var authThrottle = AuthThrottle.Policy()
    /// Handshake failures logged per source (remote host, or peer id) before rate limiting (default 5)…
    public var failureLogBurst: Int = 5
    /// …then one line per this interval (default 10 s), saying how many were held back.
    public var failureLogIntervalNanos: UInt64 = 10_000_000_000
    /// When an encrypted link direction moves to its next key (default every 2³² records or 2⁴⁰ bytes). Both ends
    /// rekey in lockstep without telling each other, so they must use the same policy: only tests change it.
    public var rekey = RekeyPolicy()
    /// Tests: this node's log lines go here instead of the process-wide sink. nil (default): the logger's sink.
    public var logSink: (any LogSink)?
    /// Monotonic nanoseconds for every deadline, timeout and wait of the node (failure detection, handshakes,
    /// redials, auth throttles, the relay cover wait). Default: the system's monotonic clock. Tests put a clock they
    /// can move forward here, so routing and failure logic runs without waiting in real time (the loop's timers
    /// still fire in real time: they are when the node looks, not what it sees).
    public var clock: @Sendable () -> UInt64 = { monotonicNanos() }

    public var heartbeatIntervalNanos: UInt64 = 200_000_000
    /// Silence after which a peer is declared down (default 1.2 s).
    public var failureTimeoutNanos: UInt64 = 1_200_000_000
    /// A link not authenticated after this long is closed (default 2 s).
    public var handshakeTimeoutNanos: UInt64 = 2_000_000_000
    public var connectTimeoutNanos: UInt64 = 1_000_000_000
    /// A link must stay up this long, and have answered a heartbeat, before its redial backoff starts over
    /// (default 1.2 s, the failure timeout). A link that keeps dying sooner backs off to the cap.
    public var linkStableNanos: UInt64 = 1_200_000_000
    public var backoffBaseNanos: UInt64 = 50_000_000
    public var backoffCapNanos: UInt64 = 1_000_000_000
    /// Cumulative ACKs go out at most this often, and only when something new arrived (default 20 ms).
    public var ackIntervalNanos: UInt64 = 20_000_000
    /// A LINKS frame rides along with every n-th heartbeat (besides being sent on every change).
    public var linksEveryHeartbeats: UInt64 = 10
    /// How long an origin we can't reach directly may wait for a relay that holds everything after our cursor
    /// (default 30 s): the origin, or a replica holding its messages, may come back (delay, not loss). After
    /// that, a relayer that joined the origin's life later is taken, and what it never held counts as a gap.
    public var relayCoverWaitNanos: UInt64 = 30_000_000_000
    /// Target size of one batched write of DATA frames (default 256 KiB).
    public var writeBatchBytes: Int = 256 << 10
    /// The link stops pulling from the logs while this much is queued on the socket (default 1 MiB); the
    /// logs are the buffer, not the socket queue.
    public var maxQueuedWriteBytes: Int = 1 << 20
    /// How long ``MeshNode/leave(completion:)`` waits for peers to take the LEAVING and close (default 1 s).
    public var leaveTimeoutNanos: UInt64 = 1_000_000_000

    public init() {}
}

extension MeshOptions {
    /// The epoch to use for this boot (see ``epoch`` and ``epochStateFile``).
    func resolveEpoch() -> UInt64 {
        if let epoch { return epoch }
        var epoch = wallClockMicros()
        if let path = epochStateFile {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
                let previous = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), previous >= epoch
            {
                epoch = previous + 1
            }
            try? "\(epoch)\n".write(toFile: path, atomically: true, encoding: .utf8)
        }
        return epoch
    }
}
