import Foundation
import GreeterHub
import SignalRMesh
import Testing

/// The app's hub on a real one-replica mesh in this process, through a socket, as a client would use it.
@Suite(.serialized) final class GreeterHubTests {
    private let replica: ReplicaServer
    private let port: UInt16

    init() throws {
        let config = MeshConfig(
            cluster: "greeter-test", secret: "greeter-test-secret-0123456789abcdef",
            replicas: [Replica(id: "solo", http: HostPort(host: "127.0.0.1", port: 0), mesh: HostPort(host: "127.0.0.1", port: 0))])
        replica = try ReplicaServer(
            config: config, options: ServerOptions(nodeId: "solo"), hubs: [GreeterHub.make(replica: "solo")])
        port = try replica.start(httpAddress: SocketAddress(host: "127.0.0.1", port: 0)).port
    }

    deinit {
        let done = DispatchSemaphore(value: 0)
        replica.shutdown(timeout: 2) { done.signal() }
        _ = done.wait(timeout: .now() + 5)
        replica.stopLoop()
    }

    @Test func greetReturnsACodableObjectAndCountsPerConnection() throws {
        let client = try TestClient(port: port, path: "/greeter")
        let first = try client.invoke("Greet", ["Ann"])
        #expect(first["error"] == nil)
        let greeting = first["result"] as? [String: Any]
        #expect(greeting?["text"] as? String == "Hello, Ann!")
        #expect(greeting?["replica"] as? String == "solo")
        #expect(greeting?["greetedBefore"] as? Int == 0)
        let second = try client.invoke("Greet", ["Ann"])
        #expect((second["result"] as? [String: Any])?["greetedBefore"] as? Int == 1)
    }

    @Test func hubExceptionReachesTheClient() throws {
        let client = try TestClient(port: port, path: "/greeter")
        let reply = try client.invoke("Greet", [""])
        #expect(
            reply["error"] as? String
                == "An unexpected error occurred invoking 'Greet' on the server. HubException: Tell me your name.")
    }

    @Test func topicsReachFollowersFromHubMethodsAndFromTheHubContext() throws {
        let alice = try TestClient(port: port, path: "/greeter")
        let bob = try TestClient(port: port, path: "/greeter")
        for client in [alice, bob] { #expect(try client.invoke("Follow", ["swift"])["error"] == nil) }
        #expect(try alice.invoke("Announce", ["swift", ["version": "6.3"]])["error"] == nil)
        let news = try bob.nextInvocation()
        #expect(news.target == "News")
        #expect(news.arguments.first as? String == "swift")
        #expect((news.arguments.last as? [String: String])?["version"] == "6.3")

        let context = try #require(replica.hubContext("GreeterHub"))
        try context.clients.group("swift").send("News", "swift", ["from": "server"])
        for client in [alice, bob] {
            let message = try client.nextInvocation()
            #expect((message.arguments.last as? [String: String])?["from"] == "server")
        }
    }
}
