/// The hub protocols this server speaks, as a small value: shared broadcast buffers keep one encoding per kind.
enum HubProtocolKind: Int, Sendable, CaseIterable {
    case json = 0
    case messagePack = 1
}
