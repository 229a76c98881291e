import Testing

@testable import Mesh

/// A link's lifecycle value: what `retire` and the socket's close callback rely on.
struct LinkStateTests {
    static func established(stable: Bool) -> LinkState {
        var up = LinkState.Established(detector: FailureDetector(now: 1_000), since: 1_000)
        up.stable = stable
        return .established(up)
    }

    @Test func handshakingHasADeadlineAndNothingElse() {
        let state = LinkState.handshaking(deadline: 42)
        #expect(state.handshakeDeadline == 42)
        #expect(!state.isEstablished && !state.isClosed && !state.isRetired && !state.isStable)
        #expect(Self.established(stable: false).handshakeDeadline == nil)
    }

    /// The close callback of a link we retired must still see it as retired (not a failure).
    @Test func closeKeepsTheFirstReason() {
        var state = Self.established(stable: false)
        state.close(byUs: true)
        state.close(byUs: false)
        #expect(state.isClosed && state.isRetired && !state.isEstablished)

        var dropped = LinkState.handshaking(deadline: 1)
        dropped.close(byUs: false)
        dropped.close(byUs: true)
        #expect(dropped.isClosed && !dropped.isRetired)
    }

    /// `markDown` picks the redial jitter from whether the link had proved stable, after it is closed.
    @Test func stabilitySurvivesTheClose() {
        var stable = Self.established(stable: true)
        stable.close(byUs: false)
        #expect(stable.isStable)
        var young = Self.established(stable: false)
        young.close(byUs: true)
        #expect(!young.isStable)
    }

    @Test func updateEstablishedChangesOnlyAnEstablishedLink() {
        var state = Self.established(stable: false)
        state.updateEstablished { $0.heartbeatAnswered = true }
        guard case .established(let up) = state else { Issue.record("not established"); return }
        #expect(up.heartbeatAnswered)

        var closed = LinkState.closed(byUs: true, stable: false)
        closed.updateEstablished { $0.stable = true }
        #expect(!closed.isStable && closed.isRetired)
    }
}
