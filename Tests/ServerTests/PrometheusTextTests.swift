@testable import Mesh
import NetKit
import Testing

@testable import SignalRMesh

/// The Prometheus text format writer and the `/metrics` page: escaping, value syntax, histograms, and a whole
/// rendered page read back line by line.
@Suite struct PrometheusTextTests {
    @Test func familyAndSamples() {
        var page = PrometheusText()
        page.family("demo_up", .gauge, help: "1 while up.")
        page.sample(["peer": "b"], 1)
        page.sample(["peer": "c", "state": "down"], 0)
        page.family("demo_total", .counter, help: "Things.")
        page.sample(UInt64(18_446_744_073_709_551_615))
        #expect(String(decoding: page.bytes, as: UTF8.self) == """
            # HELP demo_up 1 while up.
            # TYPE demo_up gauge
            demo_up{peer="b"} 1
            demo_up{peer="c",state="down"} 0
            # HELP demo_total Things.
            # TYPE demo_total counter
            demo_total 18446744073709551615

            """)
    }

    @Test func labelValuesAreEscaped() {
        #expect(PrometheusText.escapeLabelValue(#"plain"#) == "plain")
        #expect(PrometheusText.escapeLabelValue(#"a"b"#) == #"a\"b"#)
        #expect(PrometheusText.escapeLabelValue(#"back\slash"#) == #"back\\slash"#)
        #expect(PrometheusText.escapeLabelValue("two\nlines") == #"two\nlines"#)
        #expect(PrometheusText.escapeLabelValue("\\\"\n") == #"\\\"\n"#)
        #expect(PrometheusText.escapeLabelValue("é ü } {") == "é ü } {")  // UTF-8 and braces stay as they are
        var page = PrometheusText()
        page.family("demo", .gauge, help: "x")
        page.sample(["hub": "evil\"} 1\nfake_metric 2"], 1)
        #expect(String(decoding: page.bytes, as: UTF8.self).hasSuffix(#"demo{hub="evil\"} 1\nfake_metric 2"} 1"# + "\n"))
    }

    @Test func helpIsEscapedButKeepsQuotes() {
        #expect(PrometheusText.escapeHelp("say \"hi\"\\now\nthen") == #"say "hi"\\now\nthen"#)
    }

    @Test func values() {
        #expect(PrometheusText.format(0) == "0")
        #expect(PrometheusText.format(42) == "42")
        #expect(PrometheusText.format(-3) == "-3")
        #expect(PrometheusText.format(0.5) == "0.5")
        #expect(PrometheusText.format(0.000256) == "0.000256")
        #expect(PrometheusText.format(2.5e-7) == "2.5e-07")
        #expect(PrometheusText.format(.infinity) == "+Inf")
        #expect(PrometheusText.format(-.infinity) == "-Inf")
        #expect(PrometheusText.format(.nan) == "NaN")
        #expect(PrometheusText.format(1e300) == "1e+300")
        for v in [0.000256, 2.5e-7, 1796544513.99, 1e300, 123.456] { #expect(Double(PrometheusText.format(v)) == v) }
    }

    @Test func names() {
        for good in ["a", "signalr_mesh_peer_up", "a:b_c9", "_x"] { #expect(PrometheusText.isValidMetricName(good), "\(good)") }
        for bad in ["", "9a", "a-b", "a b", "é"] { #expect(!PrometheusText.isValidMetricName(bad), "\(bad)") }
        for good in ["peer", "le", "_x", "a9"] { #expect(PrometheusText.isValidLabelName(good), "\(good)") }
        for bad in ["", "9a", "__name__", "a:b", "a-b"] { #expect(!PrometheusText.isValidLabelName(bad), "\(bad)") }
    }

    @Test func histogramBucketsAreCumulativeAndEndWithInf() {
        var h = TurnHistogram()
        for nanos: UInt64 in [500, 800, 3_000, 40_000, 300_000, 20_000_000_000] { h.record(nanos) }
        var page = PrometheusText()
        page.family("demo_seconds", .histogram, help: "Turns.")
        MetricsRenderer.histogram(h, into: &page)
        let lines = String(decoding: page.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        let buckets = lines.filter { $0.hasPrefix("demo_seconds_bucket{") }
        #expect(buckets.count == MetricsRenderer.turnBoundsNanos.count + 1)
        #expect(buckets.first == #"demo_seconds_bucket{le="1e-06"} 2"#)
        #expect(buckets.contains(#"demo_seconds_bucket{le="5e-06"} 3"#))
        #expect(buckets.contains(#"demo_seconds_bucket{le="5e-05"} 4"#))
        #expect(buckets.contains(#"demo_seconds_bucket{le="0.000512"} 5"#))
        #expect(buckets.contains(#"demo_seconds_bucket{le="8.388608"} 5"#))  // 20 s is past every bound…
        #expect(buckets.last == #"demo_seconds_bucket{le="+Inf"} 6"#)  // …but not past +Inf
        let sum = lines.first { $0.hasPrefix("demo_seconds_sum ") }.flatMap { Double($0.dropFirst(17)) }
        #expect(sum.map { abs($0 - 20.0003443) < 1e-9 } == true)
        #expect(lines.last == "demo_seconds_count 6")
        let counts = buckets.map { UInt64($0.split(separator: " ").last!)! }
        #expect(counts == counts.sorted())
    }

    @Test func everyBoundIsExact() {
        for bound in MetricsRenderer.turnBoundsNanos { #expect(TurnHistogram.isBucketBound(bound), "\(bound)") }
        #expect(MetricsRenderer.turnBoundsNanos == MetricsRenderer.turnBoundsNanos.sorted())
    }

    // MARK: The whole page

    static func input() -> MetricsInput {
        var turns = TurnHistogram()
        turns.record(3_000)
        let peer = PeerSnapshot(
            id: "b\"\\", address: "127.0.0.1:6002", state: .up, sinceMillis: 0, epoch: 7, dialedByUs: true, encrypted: false,
            rttMicros: 250, dataSent: 10, dataReceived: 9, relayed: 2, duplicatesDropped: 3, outOfOrderDropped: 0,
            staleDropped: 0, unexpectedOrigin: 0, replayBufferedMessages: 1, replayBufferedBytes: 40, gaps: 1, sendGaps: 0,
            dataWrites: 5, feeding: [], requested: [], reportedLinks: [], reachable: true, linksEstablished: 2, dialFailures: 4)
        var down = peer
        down.id = "c"
        down.state = .down
        down.rttMicros = nil
        let mesh = MeshSnapshot(
            nodeId: "a", epoch: 1, cluster: "demo", published: 12, delivered: 9, ownLogCount: 3, ownLogBytes: 120,
            refusedHandshakes: 0, peers: [peer, down],
            origins: [OriginSnapshot(id: "b", epoch: 7, highestDelivered: 9, gaps: 1, logCount: 0, logBytes: 0)])
        let hub = HubStats(
            hub: "ChatHub",
            connections: [HubStats.Connections(transport: "WebSockets", hubProtocol: "json", open: 2, opened: 5)],
            messagesReceived: 11, messagesSent: 20, invocations: 7, invocationErrors: 1)
        return MetricsInput(
            node: "a", cluster: "demo", ready: true, draining: false, hubs: [hub], mesh: mesh, loopTurns: turns,
            wakeToFirstWrite: TurnHistogram(),
            process: ProcessStats(residentBytes: 1 << 20, virtualBytes: 1 << 30, cpuSeconds: 1.5, startTimeSeconds: 1.7e9,
                openFileDescriptors: 12, maxFileDescriptors: 1024))
    }

    /// Reads the page back the way a scraper does: families declared once before their samples, every sample
    /// of a declared family, names and label syntax valid, histograms complete.
    @Test func renderedPageIsWellFormed() throws {
        let text = String(decoding: MetricsRenderer.render(Self.input()), as: UTF8.self)
        #expect(text.hasSuffix("\n"))
        var types: [String: String] = [:]
        var current: String?
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") {
                let name = String(line.dropFirst(7).prefix { $0 != " " })
                #expect(types[name] == nil, "family \(name) twice")
                current = name
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 4 && String(parts[2]) == current)
                types[String(parts[2])] = String(parts[3])
                continue
            }
            let family = try #require(current)
            let nameEnd = line.firstIndex { $0 == "{" || $0 == " " }!
            let name = String(line[..<nameEnd])
            let allowed = types[family] == "histogram" ? ["_bucket", "_sum", "_count"].map { family + $0 } : [family]
            #expect(allowed.contains(name), "sample \(name) under family \(family)")
            let value = try #require(Double(line.split(separator: " ").last!.replacingOccurrences(of: "+Inf", with: "inf")))
            samples[String(line[..<line.lastIndex(of: " ")!])] = value
        }
        #expect(types["signalr_mesh_peer_up"] == "gauge")
        #expect(types["signalr_mesh_loop_turn_seconds"] == "histogram")
        #expect(types.keys.filter { types[$0] == "counter" }.allSatisfy { $0.hasSuffix("_total") })
        #expect(samples[#"signalr_mesh_peer_up{peer="b\"\\"}"#] == 1)
        #expect(samples[#"signalr_mesh_peer_up{peer="c"}"#] == 0)
        #expect(samples[#"signalr_mesh_peer_state{peer="c",state="down"}"#] == 1)
        #expect(samples[#"signalr_mesh_peer_rtt_seconds{peer="b\"\\"}"#] == 0.00025)
        #expect(samples[#"signalr_mesh_peer_rtt_seconds{peer="c"}"#] == nil)  // no answer yet: no sample
        #expect(samples[#"signalr_mesh_peer_data_frames_dropped_total{peer="c",reason="duplicate"}"#] == 3)
        #expect(samples[#"signalr_mesh_peer_dial_failures_total{peer="c"}"#] == 4)
        #expect(samples[#"signalr_mesh_hub_connections{hub="ChatHub",transport="WebSockets",protocol="json"}"#] == 2)
        #expect(samples[#"signalr_mesh_hub_invocation_errors_total{hub="ChatHub"}"#] == 1)
        #expect(samples["signalr_mesh_replay_log_bytes"] == 120)
        #expect(samples[#"signalr_mesh_loop_turn_seconds_bucket{le="+Inf"}"#] == 1)
        #expect(samples[#"signalr_mesh_loop_turn_seconds_bucket{le="2.5e-06"}"#] == 0)
        #expect(samples[#"signalr_mesh_loop_turn_seconds_bucket{le="5e-06"}"#] == 1)
        #expect(samples["signalr_mesh_loop_wake_to_first_write_seconds_count"] == 0)
        #expect(samples["process_open_fds"] == 12)
        #expect(samples["process_start_time_seconds"] == 1.7e9)
        #expect(samples[#"signalr_mesh_node_info{node="a",cluster="demo"}"#] == 1)
    }

    @Test func processFactsLeftOutWhenUnknown() {
        var input = Self.input()
        input.process = ProcessStats()
        let text = String(decoding: MetricsRenderer.render(input), as: UTF8.self)
        #expect(!text.contains("process_"))
    }

    // MARK: /proc

    @Test func procStatFields() {
        // The command name may hold spaces and parentheses: fields count from the last ')'.
        let stat = "4242 (we(ird) name) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 50 0 0 20 0 3 0 12345 104857600 2560 "
            + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        var stats = ProcessStats()
        stats.apply(stat: stat, clockTicksPerSecond: 100, pageSize: 4096, bootTimeSeconds: 1_700_000_000)
        #expect(stats.cpuSeconds == 2.0)
        #expect(stats.startTimeSeconds == 1_700_000_123.45)
        #expect(stats.virtualBytes == 104_857_600)
        #expect(stats.residentBytes == 2560 * 4096)
        var broken = ProcessStats()
        broken.apply(stat: "no parenthesis here", clockTicksPerSecond: 100, pageSize: 4096, bootTimeSeconds: 0)
        #expect(broken == ProcessStats())
        broken.apply(stat: "1 (x) S 1", clockTicksPerSecond: 100, pageSize: 4096, bootTimeSeconds: 0)
        #expect(broken == ProcessStats())
    }

    @Test func bootTime() {
        #expect(ProcessStats.parseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n") == 1_700_000_000)
        #expect(ProcessStats.parseBootTime("cpu 1\n") == nil)
    }

    @Test func thisProcess() {
        let stats = ProcessStats.current()
        #expect((stats.residentBytes ?? 0) > 0)
        #expect((stats.openFileDescriptors ?? 0) >= 3)
        #expect((stats.startTimeSeconds ?? 0) > 1_500_000_000)
    }
}
