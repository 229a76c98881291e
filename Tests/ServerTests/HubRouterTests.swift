import Testing

@testable import SignalRMesh

/// The hub layer across replicas without sockets: three routers on an in-memory backplane. Frames are counted at
/// the network, so "no frame to a replica without members" is checked, not assumed.
@Suite struct HubRouterTests {
    @Test func groupMessagesReachOnlyReplicasWithMembers() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let onA = bench.connect("a")
        let onB = bench.connect("b")
        let onC = bench.connect("c")
        #expect(bench.changeGroup(from: "a", onA.connectionId, "room") == nil)
        #expect(bench.changeGroup(from: "b", onB.connectionId, "room") == nil)
        bench.send(from: "a", to: .groups(["room"], except: []), "m1")
        bench.send(from: "c", to: .groups(["room"], except: []), "m2")
        #expect(onA.texts == ["m1", "m2"])
        #expect(onB.texts == ["m1", "m2"])
        #expect(onC.texts.isEmpty)
        // a's message went to b only; c's went to a and b: c received no invocation at all.
        #expect(bench.invokesReceived(by: "c") == 0)
        #expect(bench.invokesReceived(by: "b") == 2)
        #expect(bench.invokesReceived(by: "a") == 1)
    }

    @Test func aGroupNobodyElseHasStaysLocal() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let onA = bench.connect("a")
        #expect(bench.changeGroup(from: "a", onA.connectionId, "solo") == nil)
        bench.send(from: "a", to: .groups(["solo"], except: []), "x")
        #expect(onA.texts == ["x"])
        #expect(bench.invokesReceived(by: "b") == 0 && bench.invokesReceived(by: "c") == 0)
    }

    @Test func addingAConnectionOfAnotherReplica() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let onB = bench.connect("b")
        // a adds b's connection; the group message from c then reaches it.
        #expect(bench.changeGroup(from: "a", onB.connectionId, "g") == nil)
        bench.send(from: "c", to: .groups(["g"], except: []), "hello")
        #expect(onB.texts == ["hello"])
        #expect(bench.invokesReceived(by: "a") == 0)
        // …and removing it from a stops them.
        #expect(bench.changeGroup(from: "a", onB.connectionId, "g", add: false) == nil)
        bench.send(from: "c", to: .groups(["g"], except: []), "gone")
        #expect(onB.texts == ["hello"])
        #expect(bench.invokesReceived(by: "b") == 1)
    }

    @Test func groupAddCompletesOnlyOnceEveryReplicaKnows() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let onA = bench.connect("a")
        #expect(bench.changeGroup(from: "a", onA.connectionId, "g", settle: false) == "pending")
        bench.settle()
        // A second member of the same group needs no new round.
        let second = bench.connect("a")
        #expect(bench.changeGroup(from: "a", second.connectionId, "g", settle: false) == nil)
    }

    @Test func unknownConnectionsAndUnreachableOwnersFailAtOnce() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        #expect(bench.changeGroup(from: "a", "nope", "g", settle: false)?.contains("does not exist") == true)
        // A well-formed id of b that b doesn't have: b says so.
        let ghost = bench.routers["b"]!.owners.newConnectionId()
        #expect(bench.changeGroup(from: "a", ghost, "g")?.contains("does not exist") == true)
        // b is gone: an error without a wait.
        let onB = bench.connect("b")
        bench.run { bench.network.setIsolated("b", true) }
        #expect(bench.changeGroup(from: "a", onB.connectionId, "g", settle: false)?.contains("cannot be reached") == true)
    }

    @Test func aRequestInFlightFailsWhenItsReplicaDies() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let onB = bench.connect("b")
        let outcome = bench.beginChangeGroup(from: "a", onB.connectionId, "g")
        #expect(outcome() == nil)
        bench.run { bench.network.setIsolated("b", true) }
        let error = try #require(outcome())
        #expect(error == "Replica 'b' became unreachable.")
    }

    @Test func usersAcrossReplicas() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let aliceOnA = bench.connect("a", user: "alice")
        let aliceOnC = bench.connect("c", user: "alice")
        let bob = bench.connect("b", user: "bob")
        bench.send(from: "b", to: .users(["alice"]), "hi alice")
        #expect(aliceOnA.texts == ["hi alice"])
        #expect(aliceOnC.texts == ["hi alice"])
        #expect(bob.texts.isEmpty)
        #expect(bench.invokesReceived(by: "b") == 0)
        bench.send(from: "a", to: .users(["bob", "alice"]), "both")
        #expect(bob.texts == ["both"] && aliceOnA.texts.last == "both" && aliceOnC.texts.last == "both")
        #expect(aliceOnA.texts.count == 2)
    }

    @Test func aConnectionTargetGoesToItsOwnerOnly() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let onB = bench.connect("b")
        _ = bench.connect("c")
        bench.send(from: "a", to: .connections([onB.connectionId]), "direct")
        #expect(onB.texts == ["direct"])
        #expect(bench.invokesReceived(by: "c") == 0)
    }

    @Test func groupsTargetsDeliverOnceAndHonourExclusions() throws {
        let bench = try RouterBench(replicas: ["a", "b"])
        let x = bench.connect("a")
        let y = bench.connect("b")
        for g in ["g1", "g2"] {
            #expect(bench.changeGroup(from: "a", x.connectionId, g) == nil)
            #expect(bench.changeGroup(from: "a", y.connectionId, g) == nil)
        }
        bench.send(from: "a", to: .groups(["g1", "g2"], except: []), "once")
        #expect(x.texts == ["once"] && y.texts == ["once"])
        bench.send(from: "a", to: .groups(["g1"], except: [x.connectionId]), "others")
        #expect(x.texts == ["once"] && y.texts == ["once", "others"])
    }

    @Test func interestIsDroppedWithAReplicaAndResynchronisedWhenItIsBack() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let onB = bench.connect("b")
        #expect(bench.changeGroup(from: "b", onB.connectionId, "g") == nil)
        #expect(bench.run { bench.routers["a"]!.interest.replicas(for: InterestKey(hub: "H", kind: .group, name: "g")) } == ["b"])
        bench.run { bench.network.setIsolated("b", true) }
        #expect(bench.run { bench.routers["a"]!.interest.count } == 0)
        bench.send(from: "a", to: .groups(["g"], except: []), "while away")
        bench.run { bench.network.setIsolated("b", false) }
        bench.settle()
        #expect(bench.run { bench.routers["a"]!.interest.replicas(for: InterestKey(hub: "H", kind: .group, name: "g")) } == ["b"])
        bench.send(from: "a", to: .groups(["g"], except: []), "back")
        #expect(onB.texts == ["back"])
    }

    /// ASP.NET Core compares group names and user ids byte for byte; Swift's `String` would merge canonically
    /// equivalent spellings ("grüppe" precomposed and decomposed).
    @Test func namesThatOnlyLookAlikeAreDifferentGroupsAndUsers() throws {
        let bench = try RouterBench(replicas: ["a", "b"])
        let composed = "gr\u{00FC}ppe"
        let decomposed = "gru\u{0308}ppe"
        #expect(composed == decomposed, "Swift calls them equal: the reason for the test")
        let x = bench.connect("a", user: composed)
        let y = bench.connect("b", user: decomposed)
        #expect(bench.changeGroup(from: "a", x.connectionId, composed) == nil)
        #expect(bench.changeGroup(from: "b", y.connectionId, decomposed) == nil)
        bench.send(from: "a", to: .groups([decomposed], except: []), "to decomposed")
        bench.send(from: "b", to: .users([composed]), "to composed user")
        #expect(x.texts == ["to composed user"])
        #expect(y.texts == ["to decomposed"])
    }

    @Test func disconnectingTheLastMemberWithdrawsInterest() throws {
        let bench = try RouterBench(replicas: ["a", "b"])
        let onB = bench.connect("b", user: "u")
        #expect(bench.changeGroup(from: "b", onB.connectionId, "g") == nil)
        #expect(bench.run { bench.routers["a"]!.interest.count } == 2)
        bench.run { bench.routers["b"]!.disconnected(onB, hub: "H") }
        bench.settle()
        #expect(bench.run { bench.routers["a"]!.interest.count } == 0)
        bench.send(from: "a", to: .groups(["g"], except: []), "nobody")
        #expect(bench.invokesReceived(by: "b") == 0)
    }
}

/// Bounded waits, with a clock the test moves: nothing hangs when a replica stops answering.
@Suite struct HubRouterTimeoutTests {
    @Test func aJoinThatAReplicaNeverConfirmsFailsAfterTheAnnounceTimeout() throws {
        let clock = ManualScheduler()
        let bench = try RouterBench(replicas: ["a", "b", "c"], scheduler: clock)
        let onA = bench.connect("a")
        bench.run { bench.network.setSilent("c", true) }
        let outcome = bench.beginChangeGroup(from: "a", onA.connectionId, "g")
        bench.settle()
        #expect(outcome() == nil, "c never acknowledged: still waiting")
        bench.run { clock.advance(4_900_000_000) }
        #expect(outcome() == nil)
        bench.run { clock.advance(200_000_000) }
        #expect(outcome() == .some("Replica(s) c did not confirm the group membership in time."))
    }

    @Test func aRequestToAReplicaThatNeverAnswersTimesOut() throws {
        let clock = ManualScheduler()
        let bench = try RouterBench(replicas: ["a", "b"], scheduler: clock)
        let onB = bench.connect("b")
        bench.run { bench.network.setSilent("b", true) }
        let outcome = bench.beginChangeGroup(from: "a", onB.connectionId, "g")
        bench.settle()
        #expect(outcome() == nil)
        bench.run { clock.advance(6_000_000_000) }
        #expect(outcome() == .some("Replica 'b' did not answer in time."))
    }

    @Test func aMissingSnapshotIsAskedForAgainUntilItArrives() throws {
        let clock = ManualScheduler()
        let bench = try RouterBench(replicas: ["a", "b"], scheduler: clock)
        let onB = bench.connect("b")
        #expect(bench.changeGroup(from: "b", onB.connectionId, "g") == nil)
        // a loses b, and its first requests after b is back are lost too (b hung a moment).
        bench.run { bench.network.setIsolated("b", true) }
        bench.run { bench.network.setSilent("b", true) }
        bench.run { bench.network.setIsolated("b", false) }
        bench.settle()
        #expect(bench.run { bench.routers["a"]!.interest.count } == 0)
        bench.run { bench.network.setSilent("b", false) }
        bench.run { clock.advance(500_000_000) }
        bench.settle()
        #expect(bench.run { bench.routers["a"]!.interest.count } == 1)
    }
}

@Suite struct ClusterMessageTests {
    static let samples: [ClusterMessage] = [
        .invoke(hub: "ChatHub", target: .all, json: Array("{\"type\":1}\u{1E}".utf8)),
        .invoke(hub: "ChatHub", target: .allExcept(["abc", "défg"]), json: [1, 2, 3]),
        .invoke(hub: "H", target: .connections(["x"]), json: []),
        .invoke(hub: "H", target: .groups(["g1", "g2"], except: ["c"]), json: [0x1E]),
        .invoke(hub: "H", target: .users(["alice"]), json: [7]),
        .interest(key: InterestKey(hub: "H", kind: .group, name: "room"), added: true, announce: 42),
        .interest(key: InterestKey(hub: "H", kind: .user, name: "bob"), added: false, announce: 0),
        .interestAck(UInt64.max),
        .snapshotRequest,
        .snapshot(reset: true, keys: []),
        .snapshot(reset: false, keys: [InterestKey(hub: "A", kind: .group, name: "x"), InterestKey(hub: "B", kind: .user, name: "y")]),
        .groupRequest(id: 9, hub: "H", connectionId: "abc", group: "g", add: true),
        .groupReply(id: 9, error: nil),
        .groupReply(id: 10, error: "Connection 'x' does not exist."),
        .clientInvoke(id: 3, hub: "H", connectionId: "abc", target: "GetAnswer", arguments: ["q", 1, [true, .null]], timeoutMillis: 30_000),
        .clientInvoke(id: 4, hub: "H", connectionId: "abc", target: "T", arguments: [], timeoutMillis: 0),
        .clientResult(id: 3, outcome: .result(["a": "b"])),
        .clientResult(id: 3, outcome: .result(.null)),
        .clientResult(id: 4, outcome: .clientError("no idea")),
        .clientResult(id: 5, outcome: .failed("Connection 'x' disconnected.")),
        .clientResult(id: 6, outcome: .canceled),
    ]

    @Test(arguments: samples) func roundTrip(_ m: ClusterMessage) {
        #expect(ClusterMessage.decode(m.encode()) == m)
    }

    /// Bytes from another replica: every truncation is refused (nil), never a crash or a wrong message.
    @Test(arguments: samples) func everyTruncationIsRefused(_ m: ClusterMessage) {
        let bytes = m.encode()
        for n in 0..<bytes.count {
            #expect(ClusterMessage.decode(Array(bytes.prefix(n))) == nil, "prefix \(n) of \(bytes.count)")
        }
        #expect(ClusterMessage.decode(bytes + [0]) == nil, "a trailing byte")
    }

    @Test func unknownVersionOrKindIsRefused() {
        var bytes = Self.samples[0].encode()
        bytes[0] = 1
        #expect(ClusterMessage.decode(bytes) == nil)
        var kind = Self.samples[0].encode()
        kind[1] = 99
        #expect(ClusterMessage.decode(kind) == nil)
    }

    @Test func aSnapshotCountLargerThanItsBytesIsRefusedWithoutReserving() {
        let bytes: [UInt8] = [2, 5, 1, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(ClusterMessage.decode(bytes) == nil)
    }
}

extension ClusterMessage: CustomTestStringConvertible {
    public var testDescription: String { "\(self)".prefix(80).description }
}

/// A broadcast carries its MessagePack encoding over the backplane only while some replica has MessagePack clients
/// of that hub: encoded once per protocol in use, never for nobody.
struct HubProtocolInterestTests {
    /// The MessagePack part of each invoke payload `replica` received, in order.
    static func messagePackParts(_ bench: RouterBench, to replica: String) -> [Int] {
        bench.run {
            bench.network.deliveries.filter { $0.destination == replica }.compactMap { d -> Int? in
                d.payload.withUnsafeBytes { raw in ClusterMessage.InvokeFields(raw).map { $0.messagePack.count } }
            }
        }
    }

    static let json = Array("{\"type\":1,\"target\":\"M\",\"arguments\":[\"x\"]}\u{1E}".utf8)

    static func broadcast(_ bench: RouterBench, from replica: String) {
        let router = bench.routers[replica]!
        bench.run { router.send(OutgoingMessage(capacity: 64) { $0.append(contentsOf: json) }, hub: "H", to: .all) }
        bench.settle()
    }

    @Test func messagePackTravelsOnlyWhileSomeoneUsesIt() throws {
        let bench = try RouterBench(replicas: ["a", "b"])
        _ = bench.connect("b")
        Self.broadcast(bench, from: "a")
        #expect(Self.messagePackParts(bench, to: "b") == [0], "nobody speaks MessagePack: JSON only")

        let mp = RecordingSink(bench.routers["b"]!.owners.newConnectionId())
        bench.run { bench.routers["b"]!.connected(mp, hub: "H", user: nil, protocol: .messagePack) }
        bench.settle()
        Self.broadcast(bench, from: "a")
        let parts = Self.messagePackParts(bench, to: "b")
        #expect(parts.count == 2 && parts[1] > 0, "b has a MessagePack client: the encoding travels (\(parts))")

        bench.run { bench.routers["b"]!.disconnected(mp, hub: "H") }
        bench.settle()
        Self.broadcast(bench, from: "a")
        #expect(Self.messagePackParts(bench, to: "b").last == 0, "its last MessagePack client left: JSON only again")
    }

    @Test func aReplicaThatStartsLaterLearnsItFromTheSnapshot() throws {
        let bench = try RouterBench(replicas: ["a", "b"])
        let router = bench.routers["b"]!
        bench.run { #expect(!router.ownKeys().contains(HubRouter.messagePackKey("H"))) }
        let mp = RecordingSink(router.owners.newConnectionId())
        bench.run { router.connected(mp, hub: "H", user: nil, protocol: .messagePack) }
        bench.settle()
        bench.run { #expect(router.ownKeys().contains(HubRouter.messagePackKey("H"))) }
    }

    /// A reloaded peers file: a removed replica's interest goes at once (group messages stop going there), and
    /// connection ids of a new replica are recognised as its own.
    @Test func membershipChangeDropsTheRemovedReplicaAndKnowsTheNewOne() throws {
        let bench = try RouterBench(replicas: ["a", "b", "c"])
        let onB = bench.connect("b")
        let onC = bench.connect("c")
        #expect(bench.changeGroup(from: "b", onB.connectionId, "room") == nil)
        #expect(bench.changeGroup(from: "c", onC.connectionId, "room") == nil)
        let a = bench.routers["a"]!
        let key = InterestKey(hub: "H", kind: .group, name: "room")
        #expect(bench.run { a.interest.replicas(for: key) } == ["b", "c"])
        let dId = ConnectionOwners(replicaId: "d", replicas: ["d"]).newConnectionId()
        #expect(bench.run { a.owners.owner(of: dId) } == nil)

        bench.run { a.membershipChanged(replicas: ["a", "b", "d"], removed: ["c"]) }
        #expect(bench.run { a.interest.replicas(for: key) } == ["b"])
        #expect(bench.run { a.owners.owner(of: dId) } == "d")
        #expect(bench.run { a.owners.owner(of: onC.connectionId) } == nil)
        let before = bench.invokesReceived(by: "c")
        bench.send(from: "a", to: .groups(["room"], except: []), "after")
        #expect(onB.texts.count == 1 && onC.texts.isEmpty)
        #expect(bench.invokesReceived(by: "c") == before)
    }
}
