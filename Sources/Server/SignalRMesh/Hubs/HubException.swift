/// An error whose message reaches the client, like ASP.NET Core's `HubException`. Any other error a hub method
/// throws reaches the client as a generic message (or with its text, under `--detailed-errors`).
public struct HubException: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "HubException: \(message)" }
}
