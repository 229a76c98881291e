import Testing

@testable import SignalRMesh

/// What hub endpoints count for `/metrics`, through real connections (no sockets).
@Suite struct HubMetricsTests {
    @Test func connectionsMessagesAndInvocationsAreCounted() async throws {
        let bench = try HubBench(replicas: ["a"])
        let endpoint = bench.endpoints["a"]!
        let first = bench.connect("a")
        let second = bench.connect("a")
        var stats = bench.run { endpoint.stats() }
        let webSocketsJSON = try #require(stats.connections.first { $0.transport == "WebSockets" && $0.hubProtocol == "json" })
        #expect(webSocketsJSON.open == 2 && webSocketsJSON.opened == 2)
        #expect(stats.connections.count == 6)
        #expect(stats.connections.filter { $0 != webSocketsJSON }.allSatisfy { $0.open == 0 && $0.opened == 0 })
        #expect(stats.messagesReceived == 0 && stats.messagesSent == 0)  // handshakes are not hub messages

        first.send(#"{"type":1,"invocationId":"1","target":"SendToAll","arguments":["hi"]}"#)  // 2 recipients + completion
        _ = await first.completion("1")
        first.send(#"{"type":1,"invocationId":"2","target":"Throw","arguments":["no"]}"#)
        _ = await first.completion("2")
        first.send(#"{"type":1,"invocationId":"3","target":"NoSuchMethod","arguments":[]}"#)
        _ = await first.completion("3")
        first.send(#"{"type":1,"target":"Echo","arguments":[1, 2]}"#)  // wrong arity, nobody waits: still an error
        first.send(#"{"type":6}"#)
        _ = await second.wait { $0.contains { if case .invocation = $0 { true } else { false } } }
        stats = bench.run { endpoint.stats() }
        #expect(stats.messagesReceived == 5)
        #expect(stats.invocations == 4)
        #expect(stats.invocationErrors == 3)
        #expect(stats.messagesSent == 2 + 3)  // AllMessage to both, three completions

        second.transport.drop()
        bench.routers.settle()
        stats = bench.run { endpoint.stats() }
        let after = try #require(stats.connections.first { $0.transport == "WebSockets" && $0.hubProtocol == "json" })
        #expect(after.open == 1 && after.opened == 2)
    }

    @Test func fanOutsCountOnePerRecipient() throws {
        let local = LocalHubConnections(hubName: "H")
        final class Sink: HubConnectionSink {
            let connectionId: String
            var received = 0
            init(_ id: String) { connectionId = id }
            func sendMessage(_ message: OutgoingMessage) { received += 1 }
        }
        let sinks = (0..<4).map { Sink("c\($0)") }
        for s in sinks { local.add(s, user: s.connectionId == "c3" ? "u" : nil) }
        _ = local.addToGroup("c0", "g")
        _ = local.addToGroup("c1", "g")
        let message = OutgoingMessage(.ping)
        local.deliver(message, to: .all)
        #expect(local.messagesDelivered == 4)
        local.deliver(message, to: .allExcept(["c0"]))
        #expect(local.messagesDelivered == 7)
        local.deliver(message, to: .groups(["g"], except: []))
        #expect(local.messagesDelivered == 9)
        local.deliver(message, to: .groups(["g", "nope"], except: ["c1"]))
        #expect(local.messagesDelivered == 10)
        local.deliver(message, to: .connections(["c2", "gone", "c2"]))
        #expect(local.messagesDelivered == 11)
        local.deliver(message, to: .users(["u"]))
        #expect(local.messagesDelivered == 12)
        #expect(sinks.map(\.received).reduce(0, +) == 12)
    }
}
