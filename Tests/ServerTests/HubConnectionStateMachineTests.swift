import Testing

@testable import SignalRMesh

@Suite struct HubConnectionStateMachineTests {
    let s: UInt64 = 1_000_000_000
    var defaults: HubConnectionStateMachine.Timeouts { .init(handshake: 15, keepAlive: 15, client: 30) }

    @Test func handshakeTimesOutAtTheDeadlineNotBefore() {
        var m = HubConnectionStateMachine(timeouts: defaults, now: 100 * s)
        do { let a = m.tick(now: 100 * s + 15 * s - 1); #expect(a == .none) }
        #expect(m.phase == .handshake)
        do { let a = m.tick(now: 115 * s); #expect(a == .handshakeTimedOut) }
        #expect(m.phase == .closed)
        do { let a = m.tick(now: 200 * s); #expect(a == .none) }
    }

    @Test func aLateHandshakeIsRefused() {
        var m = HubConnectionStateMachine(timeouts: defaults, now: 0)
        do { let ok = m.handshakeCompleted(now: 15 * s); #expect(!ok) }
        var n = HubConnectionStateMachine(timeouts: defaults, now: 0)
        do { let ok = n.handshakeCompleted(now: 15 * s - 1); #expect(ok) }
        #expect(n.phase == .active)
        do { let ok = n.handshakeCompleted(now: 15 * s - 1); #expect(!ok) }
    }

    @Test func pingAfterKeepAliveOfServerSilenceOnly() {
        var m = HubConnectionStateMachine(timeouts: defaults, now: 0)
        _ = m.handshakeCompleted(now: 1 * s)
        m.sent(now: 1 * s)
        do { let a = m.tick(now: 15 * s); #expect(a == .none) }        // 14 s since the last send
        m.received(now: 15 * s)
        do { let a = m.tick(now: 16 * s); #expect(a == .sendPing) }    // 15 s since the last send
        do { let a = m.tick(now: 17 * s); #expect(a == .none) }        // the ping counts as sent
        m.sent(now: 20 * s)                          // a broadcast pushes the next ping out
        do { let a = m.tick(now: 31 * s - 1); #expect(a == .none) }
        do { let a = m.tick(now: 35 * s); #expect(a == .sendPing) }
    }

    @Test func clientTimeoutCountsFromTheLastReceivedBytes() {
        var m = HubConnectionStateMachine(timeouts: defaults, now: 0)
        _ = m.handshakeCompleted(now: 0)
        m.received(now: 10 * s)
        do { let a = m.tick(now: 39 * s); #expect(a == .sendPing) }
        do { let a = m.tick(now: 40 * s - 1); #expect(a == .none) }
        do { let a = m.tick(now: 40 * s); #expect(a == .clientTimedOut) }
        #expect(m.phase == .closed)
        do { let a = m.tick(now: 100 * s); #expect(a == .none) }
    }

    @Test func timeoutWinsOverPingWhenBothAreDue() {
        var m = HubConnectionStateMachine(timeouts: .init(handshake: 1, keepAlive: 1, client: 2), now: 0)
        _ = m.handshakeCompleted(now: 0)
        do { let a = m.tick(now: 5 * s); #expect(a == .clientTimedOut) }
    }

    @Test func closedMachineDoesNothing() {
        var m = HubConnectionStateMachine(timeouts: defaults, now: 0)
        _ = m.handshakeCompleted(now: 0)
        m.closed()
        do { let a = m.tick(now: 1000 * s); #expect(a == .none) }
        do { let ok = m.handshakeCompleted(now: 1); #expect(!ok) }
    }
}
