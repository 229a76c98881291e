/// Frame type codes on the mesh wire. Kept in one place so they can be renumbered safely.
public enum MeshFrameType: UInt8, Sendable, CaseIterable {
    case hello = 1
    case share = 2
    case accept = 3
    case reject = 4
    case resume = 5
    case data = 6
    case ack = 7
    case heartbeat = 8
    case heartbeatAck = 9
    case links = 10
    case leaving = 11
    case confirm = 12
}
