// TEMPORARY stubs until the helper branches merge. Not committed.
import Mesh
public enum MeshPeerEvent: Sendable { case reachable(String), unreachable(String), left(String) }
extension MeshNode {
    @discardableResult func publish(_ p: [UInt8], to d: [String]?) -> Bool { publish(p); return true }
    func isReachable(_ p: String) -> Bool { true }
    var onPeerEvent: ((MeshPeerEvent) -> Void)? { get { nil } set {} }
}
