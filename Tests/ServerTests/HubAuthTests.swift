import Foundation
import NetKit
import Testing

@testable import SignalRMesh

/// Tokens at the hub's doors: negotiate and a skip-negotiation WebSocket connect, for a hub that requires a user
/// and one that doesn't.
@Suite struct HubAuthTests {
    enum Outcome: Equatable {
        case user(String?)
        case status(Int)
    }

    final class Fixture: @unchecked Sendable {
        let bench: RouterBench
        let open: HubEndpoint
        let closed: HubEndpoint

        init() throws {
            bench = try RouterBench(replicas: ["a"])
            let authenticator = HubAuthenticator(
                validator: JWTValidator(key: JWTTestToken.key), userIdProvider: DefaultUserIdProvider())
            let throttled = ThrottledLog(clock: { 0 })
            let locked = Hub("Locked", path: "/locked")
            locked.requiresUser = true
            let (bench, router) = (bench, bench.routers["a"]!)
            (open, closed) = bench.run {
                (
                    HubEndpoint(hub: DemoHub.make(), options: ServerOptions(nodeId: "a"), router: router,
                        loop: bench.loop, authenticator: authenticator, throttledLog: throttled),
                    HubEndpoint(hub: locked, options: ServerOptions(nodeId: "a"), router: router,
                        loop: bench.loop, authenticator: authenticator, throttledLog: throttled)
                )
            }
        }

        func negotiate(_ endpoint: HubEndpoint, target: String = "/negotiate?negotiateVersion=1", headers: [(String, String)] = []) -> HTTPResponse {
            bench.run { endpoint.negotiate(HTTPRequest(method: "POST", target: target, headers: HTTPHeaders(headers)), source: "127.0.0.1", now: 0) }
        }

        func skipNegotiation(_ endpoint: HubEndpoint, target: String) -> Outcome {
            bench.run {
                switch endpoint.claimForWebSocket(HTTPRequest(method: "GET", target: target), now: 0) {
                case .success(let record): return .user(record.user?.userId)
                case .failure(let response): return .status(response.status)
                }
            }
        }
    }

    static let alice = JWTTestToken.sign(payload: #"{"sub":"alice","exp":9999999999}"#)
    static let expired = JWTTestToken.sign(payload: #"{"sub":"alice","exp":1000}"#)
    static let wrongKey = JWTTestToken.sign(payload: #"{"sub":"alice"}"#, key: Array("another-key-of-32-bytes-and-more".utf8))

    @Test func aHubThatRequiresAUserRefusesMissingAndBadTokensWith401() throws {
        let f = try Fixture()
        let missing = f.negotiate(f.closed)
        #expect(missing.status == 401)
        #expect(missing.headers["WWW-Authenticate"] == "Bearer")
        for bad in [Self.expired, Self.wrongKey, "not.a.token"] {
            let response = f.negotiate(f.closed, headers: [("Authorization", "Bearer " + bad)])
            #expect(response.status == 401)
            #expect(response.headers["WWW-Authenticate"] == "Bearer error=\"invalid_token\"")
        }
        #expect(f.negotiate(f.closed, headers: [("Authorization", "Bearer " + Self.alice)]).status == 200)
        #expect(f.negotiate(f.closed, target: "/negotiate?negotiateVersion=1&access_token=" + Self.alice).status == 200)
        #expect(f.skipNegotiation(f.closed, target: "/locked") == .status(401))
        #expect(f.skipNegotiation(f.closed, target: "/locked?access_token=" + Self.expired) == .status(401))
        #expect(f.skipNegotiation(f.closed, target: "/locked?access_token=" + Self.alice) == .user("alice"))
    }

    @Test func anOpenHubLetsAnonymousCallersInAndKnowsValidUsers() throws {
        let f = try Fixture()
        #expect(f.negotiate(f.open).status == 200)
        #expect(f.negotiate(f.open, headers: [("Authorization", "Bearer " + Self.expired)]).status == 200)
        #expect(f.skipNegotiation(f.open, target: "/demoHub") == .user(nil))
        #expect(f.skipNegotiation(f.open, target: "/demoHub?access_token=" + Self.wrongKey) == .user(nil))
        #expect(f.skipNegotiation(f.open, target: "/demoHub?access_token=" + Self.alice) == .user("alice"))
    }

    /// The user of a negotiated connection comes from negotiate, unless the connect request brings its own token.
    @Test func theNegotiatedUserCarriesOverToTheConnect() throws {
        let f = try Fixture()
        let response = f.negotiate(f.open, headers: [("Authorization", "Bearer " + Self.alice)])
        let body = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let token = try #require(body["connectionToken"] as? String)
        #expect(f.skipNegotiation(f.open, target: "/demoHub?id=" + token) == .user("alice"))
    }
}
