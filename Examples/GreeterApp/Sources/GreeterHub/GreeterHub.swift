import SignalRMesh

/// What `Greet` returns: any Codable type goes over the wire as a JSON object.
public struct Greeting: Codable, Sendable, Equatable {
    public var text: String
    public var replica: String
    public var greetedBefore: Int
}

/// A hub of the app's own: greets callers, counts greetings per connection, and lets clients follow topics
/// (groups, mesh-wide) and announce to them.
public enum GreeterHub {
    public static func make(replica: String) -> Hub {
        let hub = Hub("GreeterHub", path: "/greeter")
        hub.onConnected { caller in
            caller.items["greetings"] = 0
        }
        hub.method("Greet") { (caller, name: String) -> Greeting in
            guard !name.isEmpty else { throw HubException("Tell me your name.") }
            let before = caller.items["greetings"] as? Int ?? 0
            caller.items["greetings"] = before + 1
            return Greeting(text: "Hello, \(name)!", replica: replica, greetedBefore: before)
        }
        hub.method("Follow") { (caller, topic: String) async throws in
            try await caller.groups.add(caller.connectionId, to: topic)
        }
        hub.method("Announce") { (caller, topic: String, news: [String: String]) in
            try caller.clients.othersInGroup(topic).send("News", topic, news)
        }
        return hub
    }
}
