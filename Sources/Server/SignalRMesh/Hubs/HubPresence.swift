/// Who is online, mesh-wide, in one hub: a connection joins under a name of its user's choosing, and every joined
/// connection of the hub, on any replica, is told the names online whenever they change. Thread-safe.
///
/// The list reaches the joined connections as the invocation `Presence(names, total)`: `names` is every distinct
/// name online in the hub, sorted by their UTF-8 bytes and cut at 256, and `total` how many there are. It comes
/// at once on joining, then within a quarter of a second of any change (changes in between are folded together).
/// Connections that never join get nothing, so clients that don't know about presence see no difference.
///
/// An entry lives as long as its connection (or until it joins under another name or leaves) and as long as its
/// replica can be reached: when a replica dies, the names only its connections had disappear from every other
/// replica's list as soon as the mesh sees it gone, and return when it is back and its clients join again. Two
/// connections under one name (a user on two tabs, or a page that moved to another replica) are listed once.
///
/// ```swift
/// hub.method("Join") { (caller, name: String) in try caller.presence.join(name) }
/// ```
public struct HubPresence: Sendable {
    /// The client method the list is sent to.
    public static let target = RouterPresence.target

    let sender: HubSender
    let connectionId: String

    /// Puts the connection online as `name`, replacing the name it joined under before.
    ///
    /// - Throws: ``HubException`` for a name that is empty, only whitespace, longer than 64 characters (256 bytes
    ///   of UTF-8), or that has control characters, line separators or bidirectional controls.
    public func join(_ name: String) throws {
        if let problem = PresenceName.problem(name) { throw HubException(problem) }
        sender.onLoop { [sender, connectionId] in
            sender.router.presence.join(hub: sender.hubName, connectionId: connectionId, name: name)
        }
    }

    /// Takes the connection offline (it still is until then, and always is once it disconnects).
    public func leave() {
        sender.onLoop { [sender, connectionId] in
            sender.router.presence.leave(hub: sender.hubName, connectionId: connectionId)
        }
    }
}
