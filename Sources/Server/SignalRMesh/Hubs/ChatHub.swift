/// The seed's hub: `SendMessage(user, message)` broadcasts `ReceiveMessage(user, message)` to every client on
/// every replica. Mirrors:
/// ```csharp
/// public class ChatHub : Hub {
///     public async Task SendMessage(string user, string message) =>
///         await Clients.All.SendAsync("ReceiveMessage", user, message);
/// }
/// ```
public enum ChatHub {
    public static func make() -> Hub {
        let hub = Hub("ChatHub", path: "/chatHub")
        // C# `string` parameters are nullable references, so JSON null binds too.
        hub.method("SendMessage") { (caller, user: String?, message: String?) in
            try caller.clients.all.send("ReceiveMessage", user, message)
        }
        return hub
    }
}
