import Synchronization

/// Per-connection storage that lives as long as the connection (ASP.NET Core's `Context.Items`). Thread-safe.
public final class ConnectionItems: Sendable {
    private let storage = Mutex<[String: any Sendable]>([:])

    init() {}

    public subscript(key: String) -> (any Sendable)? {
        get { storage.withLock { $0[key] } }
        set { storage.withLock { $0[key] = newValue } }
    }

    /// The stored keys.
    public var keys: [String] { storage.withLock { Array($0.keys) } }
}
