/// The seed's hub: `SendMessage(user, message)` broadcasts `ReceiveMessage(user, message)` to every client on
/// every replica. Mirrors:
/// ```csharp
/// public class ChatHub : Hub {
///     public async Task SendMessage(string user, string message) =>
///         await Clients.All.SendAsync("ReceiveMessage", user, message);
/// }
/// ```
/// Beyond the seed: `Join(name)` puts the caller online under `name` and `Leave()` takes it offline; joined
/// connections get `Presence(names, total)` whenever who is online, mesh-wide, changes (``HubPresence``).
public enum ChatHub {
    public static func make() -> Hub {
        let hub = Hub("ChatHub", path: "/chatHub")
        // C# `string` parameters are nullable references, so JSON null binds too.
        hub.method("SendMessage") { (caller, user: String?, message: String?) in
            try caller.clients.all.send("ReceiveMessage", user, message)
        }
        // Optional presence (the web client uses it; clients that never call Join see no difference).
        hub.method("Join") { (caller, name: String) in try caller.presence.join(name) }
        hub.method("Leave") { caller in caller.presence.leave() }
        return hub
    }
}
