import Foundation
import GreeterHub
import SignalRMesh
import XCTest

/// The app's hub on a real one-replica mesh in this process, through a socket, as a client would use it.
final class GreeterHubTests: XCTestCase {
    private var replica: ReplicaServer!
    private var port: UInt16 = 0

    override func setUpWithError() throws {
        let config = MeshConfig(
            cluster: "greeter-test", secret: "greeter-test-secret-0123456789abcdef",
            replicas: [Replica(id: "solo", http: HostPort(host: "127.0.0.1", port: 0), mesh: HostPort(host: "127.0.0.1", port: 0))])
        replica = try ReplicaServer(
            config: config, options: ServerOptions(nodeId: "solo"), hubs: [GreeterHub.make(replica: "solo")])
        port = try replica.start(httpAddress: SocketAddress(host: "127.0.0.1", port: 0)).port
    }

    override func tearDown() {
        let done = DispatchSemaphore(value: 0)
        replica.shutdown(timeout: 2) { done.signal() }
        _ = done.wait(timeout: .now() + 5)
        replica.stopLoop()
    }

    func testGreetReturnsACodableObjectAndCountsPerConnection() throws {
        let client = try TestClient(port: port, path: "/greeter")
        let first = try client.invoke("Greet", ["Ann"])
        XCTAssertNil(first["error"])
        let greeting = first["result"] as? [String: Any]
        XCTAssertEqual(greeting?["text"] as? String, "Hello, Ann!")
        XCTAssertEqual(greeting?["replica"] as? String, "solo")
        XCTAssertEqual(greeting?["greetedBefore"] as? Int, 0)
        let second = try client.invoke("Greet", ["Ann"])
        XCTAssertEqual((second["result"] as? [String: Any])?["greetedBefore"] as? Int, 1)
    }

    func testHubExceptionReachesTheClient() throws {
        let client = try TestClient(port: port, path: "/greeter")
        let reply = try client.invoke("Greet", [""])
        XCTAssertEqual(
            reply["error"] as? String,
            "An unexpected error occurred invoking 'Greet' on the server. HubException: Tell me your name.")
    }

    func testTopicsReachFollowersFromHubMethodsAndFromTheHubContext() throws {
        let alice = try TestClient(port: port, path: "/greeter")
        let bob = try TestClient(port: port, path: "/greeter")
        for client in [alice, bob] { XCTAssertNil(try client.invoke("Follow", ["swift"])["error"]) }
        XCTAssertNil(try alice.invoke("Announce", ["swift", ["version": "6.3"]])["error"])
        let news = try bob.nextInvocation()
        XCTAssertEqual(news.target, "News")
        XCTAssertEqual(news.arguments.first as? String, "swift")
        XCTAssertEqual((news.arguments.last as? [String: String])?["version"], "6.3")

        let context = try XCTUnwrap(replica.hubContext("GreeterHub"))
        try context.clients.group("swift").send("News", "swift", ["from": "server"])
        for client in [alice, bob] {
            let message = try client.nextInvocation()
            XCTAssertEqual((message.arguments.last as? [String: String])?["from"], "server")
        }
    }
}
