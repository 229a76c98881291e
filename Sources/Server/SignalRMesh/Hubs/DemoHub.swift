import Synchronization

/// The demo hub every replica serves at `/demoHub`: one method per hub feature, with a fixed contract that
/// clients and tests outside the repository rely on (README, "The demo hub").
public enum DemoHub {
    /// Limits of `Counter`: more gets a HubException.
    static let maxCount = 100_000
    static let maxDelayMs = 60_000

    public static func make() -> Hub {
        let hub = Hub("DemoHub", path: "/demoHub")
        hub.method("Echo") { (_, message: String) in message }
        hub.method("EchoObject") { (_, object: AnyJSON) in object }
        hub.method("Add") { (_, a: Int, b: Int) -> Int in
            let (sum, overflow) = a.addingReportingOverflow(b)
            if overflow { throw HubException("\(a) + \(b) overflows a 64-bit integer.") }
            return sum
        }
        hub.method("Throw") { (_, message: String) in throw HubException(message) }
        hub.method("GetConnectionId") { caller in caller.connectionId }
        hub.method("WhoAmI") { caller in caller.userId }

        hub.method("JoinGroup") { (caller, group: String) async throws in
            try await caller.groups.add(caller.connectionId, to: group)
        }
        hub.method("LeaveGroup") { (caller, group: String) async throws in
            try await caller.groups.remove(caller.connectionId, from: group)
        }
        hub.method("AddToGroup") { (caller, connectionId: String, group: String) async throws in
            try await caller.groups.add(connectionId, to: group)
        }

        hub.method("SendToGroup") { (caller, group: String, message: String) in
            try caller.clients.group(group).send("GroupMessage", group, message)
        }
        hub.method("SendToOthersInGroup") { (caller, group: String, message: String) in
            try caller.clients.othersInGroup(group).send("GroupMessage", group, message)
        }
        hub.method("SendToConnection") { (caller, connectionId: String, message: String) in
            try caller.clients.client(connectionId).send("DirectMessage", caller.connectionId, message)
        }
        hub.method("SendToUser") { (caller, userId: String, message: String) in
            try caller.clients.user(userId).send("UserMessage", caller.userId, message)
        }
        hub.method("SendToOthers") { (caller, message: String) in
            try caller.clients.others.send("OthersMessage", message)
        }
        hub.method("SendToAll") { (caller, message: String) in
            try caller.clients.all.send("AllMessage", message)
        }

        // Streaming and client results.
        hub.stream("Counter") { (_, count: Int, delayMs: Int) -> AsyncThrowingStream<Int, any Error> in
            guard (0...maxCount).contains(count) else { throw HubException("count must be between 0 and \(maxCount).") }
            guard (0...maxDelayMs).contains(delayMs) else {
                throw HubException("delayMs must be between 0 and \(maxDelayMs).")
            }
            let next = Mutex(0)
            return AsyncThrowingStream {
                let i = next.withLock { n in
                    defer { n += 1 }
                    return n
                }
                guard i < count else { return nil }
                if i > 0 && delayMs > 0 { try await Task.sleep(for: .milliseconds(delayMs)) }
                return i
            }
        }
        hub.method("Sum") { (_, numbers: HubStream<Int>) async throws -> Int in
            var sum = 0
            for try await n in numbers {
                let (next, overflow) = sum.addingReportingOverflow(n)
                if overflow { throw HubException("The sum overflows a 64-bit integer.") }
                sum = next
            }
            return sum
        }
        hub.method("AskClient") { (caller, connectionId: String, question: String) async throws -> String in
            try await caller.clients.client(connectionId).invoke("GetAnswer", question, returning: String.self)
        }
        return hub
    }
}
