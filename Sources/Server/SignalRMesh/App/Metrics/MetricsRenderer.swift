import Mesh
import NetKit

/// Everything one `/metrics` page shows, gathered on the loop at one scrape. A plain value.
struct MetricsInput: Sendable {
    var node: String
    var cluster: String
    var ready: Bool
    var draining: Bool
    var hubs: [HubStats]
    var mesh: MeshSnapshot
    /// ``EventLoop/turnTimes``.
    var loopTurns: TurnHistogram
    /// ``EventLoop/wakeToFirstWrite``.
    var wakeToFirstWrite: TurnHistogram
    var process: ProcessStats
}

/// Renders ``MetricsInput`` as a Prometheus text page (``PrometheusText``). Names follow Prometheus conventions:
/// the `signalr_mesh_` prefix, `_total` counters, seconds and bytes; the process facts keep the standard
/// `process_*` names every Prometheus client library uses, so stock dashboards find them. Labels name hubs,
/// transports, hub protocols, peers and origins (replica ids from the peers file) only: never connections, users
/// or groups. docs/operations.md lists every metric.
enum MetricsRenderer {
    /// The `le` bounds of the loop histograms, in nanoseconds: each ends a bucket of ``TurnHistogram``, so the
    /// cumulative counts are exact (a sample exactly on a bound counts in the next bucket).
    static let turnBoundsNanos: [UInt64] = [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000,
        256_000, 512_000, 1_024_000, 2_048_000, 4_096_000, 8_192_000, 16_384_000, 32_768_000, 65_536_000,
        131_072_000, 262_144_000, 524_288_000, 1_048_576_000, 2_097_152_000, 4_194_304_000, 8_388_608_000,
    ]

    static func render(_ input: MetricsInput) -> [UInt8] {
        var page = PrometheusText()
        renderNode(input, into: &page)
        renderHubs(input.hubs, into: &page)
        renderMesh(input.mesh, into: &page)
        renderPeers(input.mesh.peers, into: &page)
        renderOrigins(input.mesh.origins, into: &page)
        renderLoop(input, into: &page)
        renderProcess(input.process, into: &page)
        return page.bytes
    }

    private static func renderNode(_ input: MetricsInput, into page: inout PrometheusText) {
        page.family("signalr_mesh_node_info", .gauge, help: "Always 1; labels name this replica and its cluster.")
        page.sample(["node": input.node, "cluster": input.cluster], 1)
        page.family(
            "signalr_mesh_ready", .gauge,
            help: "1 while GET /readyz answers 200: listening, first mesh sync done, not draining.")
        page.sample(input.ready ? 1 : 0)
        page.family("signalr_mesh_draining", .gauge, help: "1 from SIGTERM until the process exits (GET /readyz answers 503).")
        page.sample(input.draining ? 1 : 0)
    }

    private static func renderHubs(_ hubs: [HubStats], into page: inout PrometheusText) {
        page.family(
            "signalr_mesh_hub_connections", .gauge,
            help: "Hub connections open on this replica (handshake done), by hub, transport and hub protocol.")
        for hub in hubs {
            for c in hub.connections { page.sample(["hub": hub.hub, "transport": c.transport, "protocol": c.hubProtocol], c.open) }
        }
        page.family(
            "signalr_mesh_hub_connections_opened_total", .counter,
            help: "Hub connections whose handshake succeeded on this replica, by hub, transport and hub protocol.")
        for hub in hubs {
            for c in hub.connections { page.sample(["hub": hub.hub, "transport": c.transport, "protocol": c.hubProtocol], c.opened) }
        }
        let perHub: [(String, String, KeyPath<HubStats, UInt64>)] = [
            ("signalr_mesh_hub_messages_received_total", "Hub messages received from clients (pings included).", \.messagesReceived),
            ("signalr_mesh_hub_messages_sent_total", "Hub messages sent to clients, one per recipient (pings included).", \.messagesSent),
            ("signalr_mesh_hub_invocations_total", "Invocation and StreamInvocation messages received from clients.", \.invocations),
            (
                "signalr_mesh_hub_invocation_errors_total",
                "Invocations that ended in an error (unknown method, bad arguments, refused, the method threw).",
                \.invocationErrors
            ),
        ]
        for (name, help, field) in perHub {
            page.family(name, .counter, help: help)
            for hub in hubs { page.sample(["hub": hub.hub], hub[keyPath: field]) }
        }
    }

    private static func renderMesh(_ mesh: MeshSnapshot, into page: inout PrometheusText) {
        let counters: [(String, String, UInt64)] = [
            ("signalr_mesh_published_messages_total", "Messages this replica published to the mesh (its own sequence).", mesh.published),
            ("signalr_mesh_delivered_messages_total", "Messages from other replicas delivered here.", mesh.delivered),
            (
                "signalr_mesh_stored_for_relay_messages_total",
                "Messages from other replicas accepted only to relay them (addressed to other replicas).",
                mesh.storedForRelay
            ),
            (
                "signalr_mesh_refused_handshakes_total",
                "Inbound mesh connections closed at once (handshake cap, or a source blocked after failed authentications).",
                mesh.refusedHandshakes
            ),
            (
                "signalr_mesh_throttled_handshakes_total",
                "Of the refused handshakes, those from a source blocked after failed authentications.",
                mesh.throttledHandshakes
            ),
            (
                "signalr_mesh_failed_authentications_total",
                "Mesh handshakes in which the other side failed to prove it knows the secret.",
                mesh.failedAuthentications
            ),
        ]
        for (name, help, value) in counters {
            page.family(name, .counter, help: help)
            page.sample(value)
        }
        page.family(
            "signalr_mesh_replay_log_messages", .gauge,
            help: "Own messages retained for replay to peers that have not acknowledged them (the replay log's fill).")
        page.sample(mesh.ownLogCount)
        page.family("signalr_mesh_replay_log_bytes", .gauge, help: "Payload bytes of the own messages retained for replay.")
        page.sample(mesh.ownLogBytes)
    }

    private static func renderPeers(_ peers: [PeerSnapshot], into page: inout PrometheusText) {
        page.family("signalr_mesh_peer_up", .gauge, help: "1 while a mesh link to the peer is up, else 0.")
        for p in peers { page.sample(["peer": p.id], p.state == .up ? 1 : 0) }
        page.family(
            "signalr_mesh_peer_state", .gauge,
            help: "1 for the link's current state (connecting: never linked; up; down; left: it said it was leaving), 0 for the others.")
        let states: [PeerState] = [.connecting, .up, .down, .left]
        for p in peers {
            for state in states { page.sample(["peer": p.id, "state": state.rawValue], p.state == state ? 1 : 0) }
        }
        page.family(
            "signalr_mesh_peer_reachable", .gauge,
            help: "1 while the peer can be reached: linked to this replica, or to a peer linked to it.")
        for p in peers { page.sample(["peer": p.id], p.reachable ? 1 : 0) }
        page.family(
            "signalr_mesh_peer_rtt_seconds", .gauge,
            help: "Last heartbeat round trip to the peer (absent before the first answer).")
        for p in peers {
            if let rtt = p.rttMicros { page.sample(["peer": p.id], Double(rtt) / 1e6) }
        }
        let counters: [(String, String, KeyPath<PeerSnapshot, UInt64>)] = [
            ("signalr_mesh_peer_links_established_total", "Links to the peer that came up (either side dialing).", \.linksEstablished),
            (
                "signalr_mesh_peer_dial_failures_total",
                "Dials of the peer that failed (connect or handshake; not a tie-break lost to its own dial).", \.dialFailures
            ),
            ("signalr_mesh_peer_data_frames_sent_total", "DATA frames sent to the peer (own and relayed).", \.dataSent),
            ("signalr_mesh_peer_data_frames_received_total", "DATA frames received from the peer (dropped ones included).", \.dataReceived),
            ("signalr_mesh_peer_data_frames_relayed_total", "DATA frames sent to the peer for origins other than this replica.", \.relayed),
            ("signalr_mesh_peer_data_writes_total", "Socket writes that carried DATA frames to the peer (frames sent / writes = batching).", \.dataWrites),
            (
                "signalr_mesh_peer_data_frames_skipped_total",
                "Own messages not sent to the peer because none of their recipients was there (targeted publish).",
                \.filteredSkipped
            ),
            ("signalr_mesh_peer_gaps_total", "Messages known lost in what the peer fed this replica (GAP_BEFORE).", \.gaps),
            (
                "signalr_mesh_peer_send_gaps_total",
                "Messages the peer asked for that had left this replica's logs before they could be sent.", \.sendGaps
            ),
        ]
        for (name, help, field) in counters {
            page.family(name, .counter, help: help)
            for p in peers { page.sample(["peer": p.id], p[keyPath: field]) }
        }
        page.family(
            "signalr_mesh_peer_data_frames_dropped_total", .counter,
            help: "DATA frames from the peer dropped, by reason: duplicate (already had it), out_of_order (raced ahead "
                + "on another path; it comes again in order), stale (an older life of its origin), unexpected_origin "
                + "(an origin the peer was not asked to relay).")
        for p in peers {
            page.sample(["peer": p.id, "reason": "duplicate"], p.duplicatesDropped)
            page.sample(["peer": p.id, "reason": "out_of_order"], p.outOfOrderDropped)
            page.sample(["peer": p.id, "reason": "stale"], p.staleDropped)
            page.sample(["peer": p.id, "reason": "unexpected_origin"], p.unexpectedOrigin)
        }
        page.family(
            "signalr_mesh_peer_replay_buffered_messages", .gauge,
            help: "Own messages the peer has not acknowledged yet (replayable from the log).")
        for p in peers { page.sample(["peer": p.id], p.replayBufferedMessages) }
        page.family("signalr_mesh_peer_replay_buffered_bytes", .gauge, help: "Payload bytes of those messages.")
        for p in peers { page.sample(["peer": p.id], p.replayBufferedBytes) }
    }

    private static func renderOrigins(_ origins: [OriginSnapshot], into page: inout PrometheusText) {
        page.family(
            "signalr_mesh_origin_gaps_total", .counter,
            help: "Messages of the origin replica known lost here (whoever fed them).")
        for o in origins { page.sample(["origin": o.id], o.gaps) }
        page.family(
            "signalr_mesh_origin_highest_delivered_seq", .gauge,
            help: "Sequence number of the origin's last message delivered here, in its current life.")
        for o in origins { page.sample(["origin": o.id], o.highestDelivered) }
        page.family("signalr_mesh_origin_log_messages", .gauge, help: "The origin's messages retained here for relaying.")
        for o in origins { page.sample(["origin": o.id], o.logCount) }
        page.family("signalr_mesh_origin_log_bytes", .gauge, help: "Payload bytes of the origin's messages retained here.")
        for o in origins { page.sample(["origin": o.id], o.logBytes) }
    }

    private static func renderLoop(_ input: MetricsInput, into page: inout PrometheusText) {
        page.family(
            "signalr_mesh_loop_turn_seconds", .histogram,
            help: "Event loop turns, from waking up to the end of the turn's work (events, timers, tasks, writes).")
        histogram(input.loopTurns, into: &page)
        page.family(
            "signalr_mesh_loop_wake_to_first_write_seconds", .histogram,
            help: "Event loop turns woken by I/O that wrote: time from waking up to the first write.")
        histogram(input.wakeToFirstWrite, into: &page)
    }

    static func histogram(_ h: TurnHistogram, into page: inout PrometheusText) {
        page.histogram(
            buckets: turnBoundsNanos.map { (Double($0) / 1e9, h.cumulativeCount(belowNanos: $0)) },
            count: h.count, sum: Double(h.sumNanos) / 1e9)
    }

    private static func renderProcess(_ p: ProcessStats, into page: inout PrometheusText) {
        if let v = p.cpuSeconds {
            page.family("process_cpu_seconds_total", .counter, help: "User and system CPU time spent, in seconds.")
            page.sample(v)
        }
        if let v = p.residentBytes {
            page.family("process_resident_memory_bytes", .gauge, help: "Resident memory size in bytes.")
            page.sample(v)
        }
        if let v = p.virtualBytes {
            page.family("process_virtual_memory_bytes", .gauge, help: "Virtual memory size in bytes.")
            page.sample(v)
        }
        if let v = p.startTimeSeconds {
            page.family("process_start_time_seconds", .gauge, help: "Start time of the process since the Unix epoch, in seconds.")
            page.sample(v)
        }
        if let v = p.openFileDescriptors {
            page.family("process_open_fds", .gauge, help: "Open file descriptors.")
            page.sample(v)
        }
        if let v = p.maxFileDescriptors {
            page.family("process_max_fds", .gauge, help: "Limit on open file descriptors (RLIMIT_NOFILE, soft).")
            page.sample(v)
        }
    }
}
