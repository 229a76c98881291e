import Foundation
import Testing

@testable import SignalRMesh

/// Client results through real connections on replicas joined by the in-memory backplane: DemoHub's AskClient
/// asks `GetAnswer` of a client on the same or another replica.
@Suite struct HubClientResultsTests {
    /// Answers the first `GetAnswer` the client was asked; returns the question.
    @discardableResult
    static func answer(_ client: TestClient, with json: String) async -> JSONValue? {
        let asked = await client.wait { _ in !client.asked.isEmpty }
        _ = asked
        guard let inv = client.asked.first, inv.target == "GetAnswer", let id = inv.invocationId else { return nil }
        client.send(#"{"type":3,"invocationId":"\#(id)",\#(json)}"#)
        return inv.arguments.first
    }

    static let generic = "An unexpected error occurred invoking 'AskClient' on the server."

    static func ask(_ asker: TestClient, _ target: TestClient, _ question: String = "why?", id: String = "1") {
        asker.send(#"{"type":1,"invocationId":"\#(id)","target":"AskClient","arguments":["\#(target.connectionId)","\#(question)"]}"#)
    }

    @Test func askingAClientOnTheSameReplica() async throws {
        let bench = try HubBench(replicas: ["a"])
        let asker = bench.connect("a")
        let answerer = bench.connect("a")
        Self.ask(asker, answerer)
        #expect(await Self.answer(answerer, with: #""result":"because""#) == "why?")
        #expect(await asker.completion("1")?.result == "because")
    }

    @Test func askingAClientOnAnotherReplica() async throws {
        let bench = try HubBench(replicas: ["a", "b"])
        let asker = bench.connect("a")
        let answerer = bench.connect("b")
        Self.ask(asker, answerer, "q")
        #expect(await Self.answer(answerer, with: #""result":"from b""#) == "q")
        #expect(await asker.completion("1")?.result == "from b")
        // The client's error reaches the awaiting method as a HubException.
        Self.ask(asker, answerer, "again", id: "2")
        await answerer.wait { _ in answerer.asked.count == 2 }
        let second = try #require(answerer.asked.last?.invocationId)
        answerer.send(#"{"type":3,"invocationId":"\#(second)","error":"no idea"}"#)
        #expect(await asker.completion("2")?.error
            == "An unexpected error occurred invoking 'AskClient' on the server. HubException: no idea")
    }

    /// The caller asks itself: the method holds the caller's queue, but its Completion isn't queued.
    @Test func aMethodAwaitingItsOwnCallerDoesNotDeadlock() async throws {
        let bench = try HubBench(replicas: ["a"])
        let client = bench.connect("a")
        Self.ask(client, client, "me?")
        #expect(await Self.answer(client, with: #""result":"yes""#) == "me?")
        #expect(await client.completion("1")?.result == "yes")
    }

    @Test func anUnknownConnectionFailsAtOnce() async throws {
        let bench = try HubBench(replicas: ["a", "b"])
        let asker = bench.connect("a")
        asker.send(#"{"type":1,"invocationId":"1","target":"AskClient","arguments":["nobody","q"]}"#)
        // ASP.NET Core throws an IOException there: the caller gets the generic text.
        #expect(await asker.completion("1")?.error == Self.generic)
        // A well-formed id of b that b doesn't have: b says so.
        let ghost = bench.run { bench.routers.routers["b"]!.owners.newConnectionId() }
        asker.send(#"{"type":1,"invocationId":"2","target":"AskClient","arguments":["\#(ghost)","q"]}"#)
        #expect(await asker.completion("2")?.error == Self.generic)
    }

    @Test func aClientThatDisconnectsBeforeAnsweringFailsTheWait() async throws {
        let bench = try HubBench(replicas: ["a", "b"])
        let asker = bench.connect("a")
        let answerer = bench.connect("b")
        Self.ask(asker, answerer)
        await answerer.wait { _ in !answerer.asked.isEmpty }
        bench.run { answerer.transport.drop() }
        #expect(await asker.completion("1")?.error == Self.generic)
    }

    @Test func anUnreachableOwnerFailsTheWaitWithoutATimeout() async throws {
        let clock = ManualScheduler()
        let bench = try HubBench(replicas: ["a", "b"], scheduler: clock)
        let asker = bench.connect("a")
        let answerer = bench.connect("b")
        Self.ask(asker, answerer)
        await answerer.wait { _ in !answerer.asked.isEmpty }
        // b dies with the question unanswered: the asker hears at once (the clock never moves).
        bench.run { bench.routers.network.setIsolated("b", true) }
        #expect(await asker.completion("1")?.error == Self.generic)
        // Asked while b is unreachable: refused at once.
        Self.ask(asker, answerer, id: "2")
        #expect(await asker.completion("2")?.error == Self.generic)
    }

    @Test func aClientThatNeverAnswersTimesOut() async throws {
        let clock = ManualScheduler()
        let bench = try HubBench(replicas: ["a", "b"], scheduler: clock)
        let asker = bench.connect("a")
        let answerer = bench.connect("b")
        Self.ask(asker, answerer)
        await answerer.wait { _ in !answerer.asked.isEmpty }
        bench.run { clock.advance(29_900_000_000) }
        #expect(await asker.completion("1", within: 0.2) == nil)
        bench.run { clock.advance(200_000_000) }
        #expect(await asker.completion("1")?.error == Self.generic + " HubException: Invocation canceled by the server.")
        // The owner forgot its wait a second later; a late answer goes nowhere.
        bench.run { clock.advance(1_000_000_000) }
        #expect(bench.run { bench.endpoints["b"]!.active[answerer.connectionId]!.streams.clientResults.isEmpty })
    }

    @Test func theHubContextCanAskToo() async throws {
        let bench = try HubBench(replicas: ["a", "b"])
        let answerer = bench.connect("b")
        let clients = bench.run { bench.endpoints["a"]!.clients }
        async let answer = clients.client(answerer.connectionId).invoke("GetAnswer", 6, 7, returning: Int.self)
        await answerer.wait { _ in !answerer.asked.isEmpty }
        #expect(answerer.asked.first?.arguments == [6, 7])
        await Self.answer(answerer, with: #""result":42"#)
        await answerer.wait(0.2) { _ in false }  // lets the backplane carry the answer to a
        #expect(try await answer == 42)
        // A void result decodes as null.
        async let nothing = clients.client(answerer.connectionId).invoke("Ping", returning: AnyJSON.self)
        await answerer.wait { _ in answerer.asked.count == 2 }
        answerer.send(#"{"type":3,"invocationId":"\#(answerer.asked[1].invocationId!)"}"#)
        await answerer.wait(0.2) { _ in false }
        #expect(try await nothing == AnyJSON(.null))
    }

    /// Outside the hub's methods the reasons are in the thrown ``ClientResultError``.
    @Test func failuresSayWhy() async throws {
        let clock = ManualScheduler()
        let bench = try HubBench(replicas: ["a", "b"], scheduler: clock)
        let clients = bench.run { bench.endpoints["a"]!.clients }
        await #expect(throws: ClientResultError("Connection 'nobody' does not exist.")) {
            try await clients.client("nobody").invoke("GetAnswer", returning: String.self)
        }
        let answerer = bench.connect("b")
        let id = answerer.connectionId
        let lost = Task { try await clients.client(id).invoke("GetAnswer", returning: String.self) }
        await answerer.wait { _ in !answerer.asked.isEmpty }
        bench.run { bench.routers.network.setIsolated("b", true) }
        await #expect(throws: ClientResultError("Replica 'b' became unreachable.")) { try await lost.value }
        await #expect(throws: ClientResultError(
            "Connection '\(answerer.connectionId)' belongs to replica 'b', which cannot be reached.")
        ) {
            try await clients.client(answerer.connectionId).invoke("GetAnswer", returning: String.self)
        }
    }
}
