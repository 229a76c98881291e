/// The seed's hub: `SendMessage(user, message)` broadcasts `ReceiveMessage(user, message)` to every client on
/// every replica. Mirrors:
/// ```csharp
/// public class ChatHub : Hub {
///     public async Task SendMessage(string user, string message) =>
///         await Clients.All.SendAsync("ReceiveMessage", user, message);
/// }
/// ```
enum ChatHub {
    static func make() -> HubDefinition {
        let hub = HubDefinition(name: "ChatHub", path: "/chatHub")
        // C# `string` parameters are nullable references, so JSON null binds too.
        hub.on("SendMessage") { (ctx, user: String?, message: String?) in
            ctx.clients.all.send("ReceiveMessage", user, message)
        }
        return hub
    }
}
