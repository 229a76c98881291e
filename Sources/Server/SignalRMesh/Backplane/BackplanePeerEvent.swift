/// A change in which replicas can be reached.
enum BackplanePeerEvent: Equatable, Sendable {
    case reachable(String)
    case unreachable(String)
    case left(String)
}
