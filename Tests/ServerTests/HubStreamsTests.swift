import Foundation
import Synchronization
import Testing

@testable import SignalRMesh

/// Server→client and client→server streams through real connections (no sockets): DemoHub's Counter and Sum, and
/// a test hub whose stream never ends on its own.
@Suite struct HubStreamsTests {
    /// DemoHub plus `Forever`, a stream that only ends when cancelled.
    static func hub() -> Hub {
        let hub = DemoHub.make()
        hub.stream("Forever") { (_: HubCaller) -> AsyncThrowingStream<Int, any Error> in
            AsyncThrowingStream {
                try await Task.sleep(for: .milliseconds(5))
                return 1
            }
        }
        hub.stream("FailAfterOne") { (_: HubCaller) -> AsyncThrowingStream<Int, any Error> in
            AsyncThrowingStream { c in
                c.yield(1)
                c.finish(throwing: HubException("broken"))
            }
        }
        return hub
    }

    @Test func counterSendsItsItemsThenACompletion() async throws {
        let bench = try HubBench(replicas: ["a"], hub: Self.hub)
        let client = bench.connect("a")
        client.send(#"{"type":4,"invocationId":"s1","target":"Counter","arguments":[5,1]}"#)
        let done = try #require(await client.completion("s1"))
        #expect(done.error == nil && done.result == nil)
        #expect(client.items("s1") == [0, 1, 2, 3, 4].map { JSONValue.number(String($0)) })
        // The Completion comes after the last item.
        let last = client.messages.lastIndex { if case .streamItem = $0 { return true } else { return false } }!
        let end = client.messages.firstIndex { TestClient.isCompletion($0, "s1") }!
        #expect(last < end)
    }

    @Test func modeAndLimitErrorsUseASPNETTexts() async throws {
        let bench = try HubBench(replicas: ["a"], hub: Self.hub)
        let client = bench.connect("a")
        client.send(#"{"type":1,"invocationId":"1","target":"Counter","arguments":[3,0]}"#)
        #expect(await client.completion("1")?.error
            == "The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation.")
        client.send(#"{"type":4,"invocationId":"2","target":"Echo","arguments":["x"]}"#)
        #expect(await client.completion("2")?.error
            == "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.")
        client.send(#"{"type":4,"invocationId":"3","target":"Counter","arguments":[-1,0]}"#)
        #expect(await client.completion("3")?.error
            == "An unexpected error occurred invoking 'Counter' on the server. HubException: count must be between 0 and 100000.")
        client.send(#"{"type":4,"invocationId":"4","target":"FailAfterOne","arguments":[]}"#)
        #expect(await client.completion("4")?.error
            == "An error occurred on the server while streaming results. HubException: broken")
        #expect(client.items("4") == [1])
        client.send(#"{"type":1,"invocationId":"5","target":"Sum","arguments":[]}"#)
        #expect(await client.completion("5")?.error
            == "An unexpected error occurred invoking 'Sum' on the server. HubException: Client sent 0 stream(s), Hub method expects 1.")
    }

    @Test func cancelStopsTheStreamAndACompletionStillComes() async throws {
        let bench = try HubBench(replicas: ["a"], hub: Self.hub)
        let client = bench.connect("a")
        client.send(#"{"type":4,"invocationId":"f","target":"Forever","arguments":[]}"#)
        await client.wait { _ in client.items("f").count >= 2 }
        client.send(#"{"type":5,"invocationId":"f"}"#)
        let done = try #require(await client.completion("f"))
        #expect(done.error == nil)
        let count = client.items("f").count
        // Nothing after the Completion.
        await client.wait(0.1) { _ in false }
        #expect(client.items("f").count == count)
        #expect(bench.run { bench.endpoints["a"]!.active[client.connectionId]!.streams.outgoing.isEmpty })
    }

    @Test func aStreamDoesNotHoldTheInvocationQueue() async throws {
        let bench = try HubBench(replicas: ["a"], hub: Self.hub)
        let client = bench.connect("a")
        client.send(#"{"type":4,"invocationId":"f","target":"Forever","arguments":[]}"#)
        client.send(#"{"type":4,"invocationId":"g","target":"Forever","arguments":[]}"#)
        client.send(#"{"type":1,"invocationId":"e","target":"Echo","arguments":["hi"]}"#)
        #expect(await client.completion("e")?.result == "hi")
        await client.wait { _ in client.items("g").count >= 1 && client.items("f").count >= 1 }
        #expect(client.items("g").count >= 1)
        client.send(#"{"type":4,"invocationId":"f","target":"Forever","arguments":[]}"#)
        #expect(await client.completion("f")?.error == "Invocation ID 'f' is already in use.")
    }

    @Test func aDisconnectCancelsTheStreamsTask() async throws {
        let started = Flag()
        let cancelled = Flag()
        let bench = try HubBench(replicas: ["a"]) {
            let hub = Hub("H", path: "/h")
            hub.stream("Watch") { (_: HubCaller) -> AsyncStream<Int> in
                AsyncStream { c in
                    started.set()
                    c.onTermination = { _ in cancelled.set() }
                }
            }
            return hub
        }
        let client = bench.connect("a")
        client.send(#"{"type":4,"invocationId":"w","target":"Watch","arguments":[]}"#)
        #expect(await started.wait())
        #expect(!cancelled.isSet)
        bench.run { client.transport.drop() }
        #expect(await cancelled.wait())
    }

    @Test func backPressureHoldsItemsWhileTheTransportIsFull() async throws {
        let bench = try HubBench(replicas: ["a"], hub: Self.hub)
        let client = bench.connect("a")
        bench.run { client.transport.pendingWriteBytes = 1 << 20 }
        client.send(#"{"type":4,"invocationId":"c","target":"Counter","arguments":[50,0]}"#)
        await client.wait { _ in !client.items("c").isEmpty }
        await client.wait(0.3) { _ in false }
        // One item went out, then the stream waits for the queue to drain.
        #expect(client.items("c").count == 1)
        bench.run { client.transport.pendingWriteBytes = 0 }
        #expect(await client.completion("c")?.error == nil)
        #expect(client.items("c").count == 50)
    }

    // MARK: Client→server

    @Test func sumReadsAnUploadStream() async throws {
        let bench = try HubBench(replicas: ["a"], hub: Self.hub)
        let client = bench.connect("a")
        client.send(#"{"type":1,"invocationId":"1","target":"Sum","arguments":[],"streamIds":["0"]}"#)
        for n in 1...10 { client.send(#"{"type":2,"invocationId":"0","item":\#(n)}"#) }
        client.send(#"{"type":3,"invocationId":"0"}"#)
        #expect(await client.completion("1")?.result == 55)
        // Late items for the finished stream, and unknown ids, are ignored.
        client.send(#"{"type":2,"invocationId":"0","item":1}"#)
        client.send(#"{"type":2,"invocationId":"zz","item":1}"#)
        client.send(#"{"type":3,"invocationId":"zz"}"#)
        client.send(#"{"type":1,"invocationId":"2","target":"Echo","arguments":["still here"]}"#)
        #expect(await client.completion("2")?.result == "still here")
    }

    @Test func itemsSentBeforeTheMethodRunsAreKept() async throws {
        let bench = try HubBench(replicas: ["a"], hub: Self.hub)
        let client = bench.connect("a")
        // A running stream method holds the queue until it has its sequence; everything arrives in one read.
        client.sendRaw(
            #"{"type":1,"invocationId":"1","target":"Sum","arguments":[],"streamIds":["7"]}"# + "\u{1E}"
                + #"{"type":2,"invocationId":"7","item":40}"# + "\u{1E}" + #"{"type":2,"invocationId":"7","item":2}"# + "\u{1E}"
                + #"{"type":3,"invocationId":"7"}"# + "\u{1E}")
        #expect(await client.completion("1")?.result == 42)
    }

    @Test func anUploadCompletedWithAnErrorMakesTheMethodThrow() async throws {
        let bench = try HubBench(replicas: ["a"]) {
            let hub = Hub("H", path: "/h")
            hub.method("Count") { (_: HubCaller, items: HubStream<String>) async throws -> Int in
                var n = 0
                do {
                    for try await _ in items { n += 1 }
                } catch let e as HubStreamError {
                    throw HubException("after \(n): \(e.message)")
                }
                return n
            }
            return hub
        }
        let client = bench.connect("a")
        client.send(#"{"type":1,"invocationId":"1","target":"Count","arguments":[],"streamIds":["s"]}"#)
        client.send(#"{"type":2,"invocationId":"s","item":"x"}"#)
        client.send(#"{"type":3,"invocationId":"s","error":"client gave up"}"#)
        #expect(await client.completion("1")?.error
            == "An unexpected error occurred invoking 'Count' on the server. HubException: after 1: client gave up")
        // An item of the wrong type fails the stream with ASP.NET's binding text.
        client.send(#"{"type":1,"invocationId":"2","target":"Count","arguments":[],"streamIds":["t"]}"#)
        client.send(#"{"type":2,"invocationId":"t","item":5}"#)
        #expect(await client.completion("2")?.error
            == "An unexpected error occurred invoking 'Count' on the server. HubException: after 0: Failed to bind Stream message.")
    }

    @Test func anUploadThatOutrunsItsReaderFailsInsteadOfGrowing() async throws {
        let release = Flag()
        let bench = try HubBench(replicas: ["a"]) {
            let hub = Hub("H", path: "/h")
            hub.method("Slow") { (_: HubCaller, items: HubStream<String>) async throws -> String in
                _ = await release.wait(10)
                do {
                    for try await _ in items {}
                    return "ok"
                } catch let e as HubStreamError {
                    return e.message
                }
            }
            return hub
        }
        let client = bench.connect("a")
        client.send(#"{"type":1,"invocationId":"1","target":"Slow","arguments":[],"streamIds":["s"]}"#)
        let big = String(repeating: "x", count: 30_000)
        for _ in 0..<40 { client.send(#"{"type":2,"invocationId":"s","item":"\#(big)"}"#) }
        release.set()
        #expect(await client.completion("1")?.result
            == .string("The client sent more than 1048576 bytes of stream items that the hub method did not read."))
    }

    @Test func aDisconnectEndsUploadStreams() async throws {
        let outcome = Mutex<String?>(nil)
        let ended = Flag()
        let bench = try HubBench(replicas: ["a"]) {
            let hub = Hub("H", path: "/h")
            hub.method("Read") { (_: HubCaller, items: HubStream<Int>) async in
                do {
                    for try await _ in items {}
                    outcome.withLock { $0 = "ended" }
                } catch {
                    outcome.withLock { $0 = "\(error)" }
                }
                ended.set()
            }
            return hub
        }
        let client = bench.connect("a")
        client.send(#"{"type":1,"invocationId":"1","target":"Read","arguments":[],"streamIds":["s"]}"#)
        client.send(#"{"type":2,"invocationId":"s","item":1}"#)
        bench.run { client.transport.drop() }
        #expect(await ended.wait())
        #expect(outcome.withLock { $0 } == "The connection closed before the stream completed.")
    }
}
