/// Why a client→server stream (``HubStream``) ended with an error: the client completed it with one, an item
/// didn't fit the element type, the method left too many items unread, or the connection closed.
public struct HubStreamError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// An item that doesn't decode as the stream's element type (ASP.NET Core's text).
    static let bindingFailed = HubStreamError("Failed to bind Stream message.")
    static let connectionClosed = HubStreamError("The connection closed before the stream completed.")
    static func overflow(_ limit: Int) -> HubStreamError {
        HubStreamError("The client sent more than \(limit) bytes of stream items that the hub method did not read.")
    }
}
