import Foundation
import Testing

@testable import SignalRMesh

/// Presence (``HubPresence``): the name rules, the roster as a value, and the roster kept mesh-wide by the routers
/// through kills, restarts and moves between replicas.
@Suite struct PresenceTests {
    // MARK: Names

    @Test func namesArePrintableAndShort() {
        for good in ["alice", "Ünïcode 😀", String(repeating: "é", count: 64), "a b", "名前"] {
            #expect(PresenceName.problem(good) == nil, "\(good)")
        }
        let bad: [String] = [
            "", "   ", "\t", String(repeating: "x", count: 65), String(repeating: "😀", count: 65),
            "a\u{0}b", "line\nbreak", "del\u{7F}", "c1\u{85}", "rtl\u{202E}txt", "iso\u{2066}x", "sep\u{2028}x",
        ]
        for name in bad { #expect(PresenceName.problem(name) != nil, "\(name.debugDescription)") }
        // 64 characters but more than 256 bytes.
        #expect(PresenceName.problem(String(repeating: "👨‍👩‍👧", count: 20)) != nil)
        #expect(PresenceName.problem("a\u{1B}[31m")?.contains("U+001B") == true)
    }

    // MARK: The roster as a value

    @Test func localJoinsAnnounceTheFirstAndWithdrawTheLast() {
        var r = PresenceRoster()
        #expect(r.join("c1", as: "alice") == .init(announce: "alice", withdraw: nil, changed: true))
        #expect(r.join("c2", as: "alice") == .init(announce: nil, withdraw: nil, changed: false))
        #expect(r.join("c1", as: "alice") == .init(announce: nil, withdraw: nil, changed: false))
        #expect(r.leave("c1") == .init(announce: nil, withdraw: nil, changed: false))
        #expect(r.names == ["alice"])
        // Renaming the last holder withdraws the old name and announces the new one.
        #expect(r.join("c2", as: "bob") == .init(announce: "bob", withdraw: "alice", changed: true))
        #expect(r.names == ["bob"] && r.joinedCount == 1)
        #expect(r.leave("c2") == .init(announce: nil, withdraw: "bob", changed: true))
        #expect(r.leave("never-joined") == .init(announce: nil, withdraw: nil, changed: false))
        #expect(r.names.isEmpty && r.joinedCount == 0)
    }

    @Test func aNameHeldHereAndElsewhereIsListedOnceAndStaysUntilTheLastHolderGoes() {
        var r = PresenceRoster()
        #expect(r.add("alice", replica: "b") == true)
        #expect(r.join("c1", as: "alice").changed == false)  // already online via b
        #expect(r.add("alice", replica: "c") == false)
        #expect(r.names == ["alice"] && r.count == 1)
        #expect(r.dropReplica("b") == false)
        #expect(r.leave("c1") == .init(announce: nil, withdraw: "alice", changed: false))
        #expect(r.remove("alice", replica: "c") == true)
        #expect(r.names.isEmpty)
    }

    @Test func droppingAReplicaForgetsAllItsNames() {
        var r = PresenceRoster()
        _ = r.add("x", replica: "b")
        _ = r.add("y", replica: "b")
        _ = r.add("y", replica: "c")
        #expect(r.dropReplica("b") == true)
        #expect(r.names == ["y"] && r.names(of: "b").isEmpty)
        #expect(r.dropReplica("b") == false)
        #expect(r.remove("y", replica: "b") == false)
    }

    @Test func remoteNamesAreCheckedAndBounded() {
        var r = PresenceRoster()
        #expect(r.add("bad\nname", replica: "b") == false)
        for i in 0..<PresenceRoster.maxNamesPerReplica { _ = r.add("n\(i)", replica: "b") }
        #expect(r.add("one-too-many", replica: "b") == false)
        #expect(r.count == PresenceRoster.maxNamesPerReplica)
        #expect(r.add("one-too-many", replica: "c") == true)
    }

    @Test func namesCompareByteForByteAndSortByBytes() {
        var r = PresenceRoster()
        _ = r.add("gr\u{00FC}ppe", replica: "b")
        _ = r.add("gru\u{0308}ppe", replica: "b")
        _ = r.add("Zed", replica: "b")
        _ = r.add("alice", replica: "b")
        #expect(r.count == 4)
        #expect(r.names.first == "Zed" && r.names[1] == "alice")
    }

    // MARK: Mesh-wide, through the routers

    /// The last `Presence` list each sink got.
    static func lastList(_ sink: RecordingSink) -> [String]? {
        for text in sink.texts.reversed() {
            guard let m = try? JSONHubProtocol.parse(Array(text.utf8.dropLast())), case .invocation(let inv) = m,
                inv.target == "Presence", case .array(let items)? = inv.arguments.first
            else { continue }
            return items.compactMap { if case .string(let s) = $0 { s } else { nil } }
        }
        return nil
    }

    static func join(_ bench: RouterBench, _ replica: String, _ sink: RecordingSink, _ name: String) -> String? {
        let router = bench.routers[replica]!
        let error = bench.run { router.presence.join(hub: "H", connectionId: sink.connectionId, name: name) }
        bench.settle()
        return error
    }

    @Test func everyJoinedConnectionSeesTheMeshWideListAndAKilledReplicasNamesGo() throws {
        let scheduler = ManualScheduler()
        let bench = try RouterBench(replicas: ["a", "b", "c"], scheduler: scheduler)
        let flush = {
            bench.run { scheduler.advance(300_000_000) }
            bench.settle()
        }
        let alice = bench.connect("a")
        let bob = bench.connect("b")
        let carol = bench.connect("c")
        let stock = bench.connect("a")  // never joins: gets nothing
        #expect(Self.join(bench, "a", alice, "alice") == nil)
        #expect(Self.lastList(alice) == ["alice"])  // at once, before any debounce
        #expect(Self.join(bench, "b", bob, "bob") == nil)
        #expect(Self.join(bench, "c", carol, "carol") == nil)
        flush()
        for sink in [alice, bob, carol] { #expect(Self.lastList(sink) == ["alice", "bob", "carol"]) }
        #expect(stock.texts.isEmpty)

        // c dies: its names leave every other list.
        bench.run { bench.network.setIsolated("c", true) }
        flush()
        #expect(Self.lastList(alice) == ["alice", "bob"])
        #expect(Self.lastList(bob) == ["alice", "bob"])

        // c is back (it resends its snapshot, names included).
        bench.run { bench.network.setIsolated("c", false) }
        bench.settle()
        flush()
        #expect(Self.lastList(alice) == ["alice", "bob", "carol"])
        #expect(Self.lastList(carol) == ["alice", "bob", "carol"])

        // A connection that closes takes its name with it.
        bench.run { bench.routers["b"]!.disconnected(bob, hub: "H") }
        bench.settle()
        flush()
        #expect(Self.lastList(alice) == ["alice", "carol"])
        #expect(stock.texts.isEmpty)
    }

    @Test func aPageThatMovesToAnotherReplicaIsListedOnce() throws {
        let scheduler = ManualScheduler()
        let bench = try RouterBench(replicas: ["a", "b"], scheduler: scheduler)
        let flush = {
            bench.run { scheduler.advance(300_000_000) }
            bench.settle()
        }
        let watcher = bench.connect("b")
        #expect(Self.join(bench, "b", watcher, "watcher") == nil)
        let onA = bench.connect("a")
        #expect(Self.join(bench, "a", onA, "alice") == nil)
        flush()
        let pushes = watcher.texts.count
        // The page opens its new connection on b before it closes the one on a.
        let onB = bench.connect("b")
        #expect(Self.join(bench, "b", onB, "alice") == nil)
        bench.run { bench.routers["a"]!.disconnected(onA, hub: "H") }
        bench.settle()
        flush()
        #expect(Self.lastList(watcher) == ["alice", "watcher"])
        #expect(Self.lastList(onB) == ["alice", "watcher"])
        // The set never changed, so the watcher was not told anything new.
        #expect(watcher.texts.count == pushes)
    }

    @Test func changesWithinTheDebounceAreSentOnce() throws {
        let scheduler = ManualScheduler()
        let bench = try RouterBench(replicas: ["a", "b"], scheduler: scheduler)
        let watcher = bench.connect("a")
        #expect(Self.join(bench, "a", watcher, "w") == nil)
        let before = watcher.texts.count
        for i in 0..<20 {
            let sink = bench.connect("b")
            #expect(Self.join(bench, "b", sink, "user\(i)") == nil)
        }
        #expect(watcher.texts.count == before)
        bench.run { scheduler.advance(300_000_000) }
        bench.settle()
        #expect(watcher.texts.count == before + 1)
        #expect(Self.lastList(watcher)?.count == 21)
    }

    @Test func badNamesAndGoneConnectionsAreRefused() throws {
        let bench = try RouterBench(replicas: ["a"])
        let sink = bench.connect("a")
        #expect(Self.join(bench, "a", sink, "x\ny")?.contains("control characters") == true)
        #expect(Self.join(bench, "a", RecordingSink("nobody"), "x")?.contains("does not exist") == true)
        #expect(sink.texts.isEmpty)
    }

    @Test func theListIsCutButTheTotalIsSent() throws {
        let names = (0..<300).map { "n\($0)" }
        let message = RouterPresence.message(names: names, limit: 256, headers: [])
        let text = message.withJSON { String(decoding: $0.dropLast(), as: UTF8.self) }
        guard case .invocation(let inv)? = try? JSONHubProtocol.parse(Array(text.utf8)) else {
            Issue.record("not an invocation: \(text)")
            return
        }
        guard case .array(let shown)? = inv.arguments.first else {
            Issue.record("no list")
            return
        }
        #expect(shown.count == 256)
        #expect(inv.arguments.last == .number("300"))
    }

    // MARK: The wire

    @Test func presenceKeysRoundTrip() {
        let key = InterestKey(hub: "ChatHub", kind: .presence, name: "Zoë 😀")
        for message: ClusterMessage in [
            .interest(key: key, added: true, announce: 7), .interest(key: key, added: false, announce: 0),
            .snapshot(reset: false, keys: [key, InterestKey(hub: "ChatHub", kind: .group, name: "g")]),
        ] {
            #expect(ClusterMessage.decode(message.encode()) == message)
        }
        // An unknown kind is refused whole (kind 5 does not exist).
        var bytes = ClusterMessage.interest(key: key, added: true, announce: 1).encode()
        bytes[2 + 2 + 7] = 5
        #expect(ClusterMessage.decode(bytes) == nil)
    }

    // MARK: ChatHub

    @Test func chatHubJoinIsOptionalAndChecked() async throws {
        let bench = try HubBench(replicas: ["a", "b"], hub: ChatHub.make)
        let stock = bench.connect("a")
        let page = bench.connect("b")
        page.send(#"{"type":1,"invocationId":"1","target":"Join","arguments":["alice"]}"#)
        #expect(await page.completion("1")?.error == nil)
        page.send(#"{"type":1,"invocationId":"2","target":"Join","arguments":["bad\u0007"]}"#)
        #expect(await page.completion("2")?.error?.contains("control characters") == true)
        stock.send(#"{"type":1,"invocationId":"3","target":"SendMessage","arguments":["u","hi"]}"#)
        #expect(await stock.completion("3")?.error == nil)
        let got = await page.wait { ms in ms.contains { if case .invocation(let i) = $0 { i.target == "ReceiveMessage" } else { false } } }
        let presence = got.compactMap { m -> [JSONValue]? in
            if case .invocation(let i) = m, i.target == "Presence" { i.arguments } else { nil }
        }
        #expect(presence.first == [.array([.string("alice")]), .number("1")])
        // The stock client got its message and nothing about presence.
        let stockGot = await stock.wait { ms in ms.contains { if case .invocation(let i) = $0 { i.target == "ReceiveMessage" } else { false } } }
        #expect(!stockGot.contains { if case .invocation(let i) = $0 { i.target == "Presence" } else { false } })
    }
}
