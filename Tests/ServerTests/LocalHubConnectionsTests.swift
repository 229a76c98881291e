import Testing
@testable import SignalRMesh

/// The broadcast list of ``LocalHubConnections`` (a contiguous array beside the id dictionary) stays in step with
/// the dictionary through adds, removals from any position, replacements and removals during a pass.
@Suite struct LocalHubConnectionsTests {
    final class Sink: HubConnectionSink {
        let connectionId: String
        var received = 0
        var onSend: (() -> Void)?
        init(_ id: String) { connectionId = id }
        func sendMessage(_ message: OutgoingMessage) {
            received += 1
            onSend?()
        }
    }

    private func counts(_ sinks: [Sink]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: sinks.map { ($0.connectionId, $0.received) })
    }

    @Test func broadcastsReachExactlyTheConnectionsHereAfterRemovalsAndReplacements() {
        let local = LocalHubConnections(hubName: "H")
        let sinks = (0..<6).map { Sink("c\($0)") }
        for s in sinks { local.add(s, user: nil) }
        _ = local.remove(sinks[0])        // the first slot: the last one moves into it
        _ = local.remove(sinks[3])        // a middle slot
        _ = local.remove(Sink("c4"))      // another object under a registered id: ignored
        let replacement = Sink("c2")
        local.add(replacement, user: nil) // the same id again: replaces, no second slot
        let message = OutgoingMessage(.ping)

        local.deliver(message, to: .all)
        #expect(local.messagesDelivered == 4)
        #expect(counts(sinks) == ["c0": 0, "c1": 1, "c2": 0, "c3": 0, "c4": 1, "c5": 1])
        #expect(replacement.received == 1)

        local.deliver(message, to: .allExcept(["c5", "c0", "gone", "c5"]))
        #expect(local.messagesDelivered == 7)
        #expect(counts(sinks) == ["c0": 0, "c1": 2, "c2": 0, "c3": 0, "c4": 2, "c5": 1])
        #expect(replacement.received == 2)

        _ = local.remove(replacement)
        _ = local.remove(sinks[5])
        local.deliver(message, to: .allExcept(["c4"]))
        #expect(local.messagesDelivered == 8)
        #expect(counts(sinks) == ["c0": 0, "c1": 3, "c2": 0, "c3": 0, "c4": 2, "c5": 1])
        _ = local.remove(sinks[1])
        _ = local.remove(sinks[4])
        local.deliver(message, to: .all)
        #expect(local.messagesDelivered == 8 && local.count == 0)
    }

    @Test func aConnectionLeavingDuringAPassChangesOnlyTheNextPass() {
        let local = LocalHubConnections(hubName: "H")
        let sinks = (0..<4).map { Sink("c\($0)") }
        for s in sinks { local.add(s, user: nil) }
        // Whoever is sent to first removes every other connection (as slow-consumer closes would, one at a time).
        var fired = false
        for s in sinks {
            s.onSend = {
                guard !fired else { return }
                fired = true
                for other in sinks where other !== s { _ = local.remove(other) }
            }
        }
        let message = OutgoingMessage(.ping)
        local.deliver(message, to: .all)
        #expect(sinks.allSatisfy { $0.received == 1 })
        for s in sinks { s.onSend = nil }
        local.deliver(message, to: .all)
        #expect(local.count == 1)
        #expect(sinks.map(\.received).reduce(0, +) == 5)
    }
}
