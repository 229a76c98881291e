// TEMPORARY stubs until the helper branches merge. Not committed.
public struct JWTClaims: Sendable { public var userId: String? }
public struct AnyJSON: Codable, Sendable, Equatable {
    let value: JSONValue
    public init(from decoder: any Decoder) throws { fatalError() }
    public func encode(to encoder: any Encoder) throws { fatalError() }
}
enum JSONValueDecoder { static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T { fatalError() } }
enum JSONValueEncoder {
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue { fatalError() }
    static func write<T: Encodable>(_ value: T, into out: inout [UInt8]) throws { fatalError() }
}
public struct JWTError: Error {}
public struct JWTValidator: Sendable { init(key: [UInt8]) {}; func validate(_ t: String) -> Result<JWTClaims, JWTError> { .failure(JWTError()) } }
public struct HubRequestInfo: Sendable { public var claims: JWTClaims?; public var headers: [(String, String)]; public var query: [(String, String)] }
public protocol UserIdProvider: Sendable { func userId(claims: JWTClaims?, request: HubRequestInfo) -> String? }
public struct DefaultUserIdProvider: UserIdProvider { public init() {}; public func userId(claims: JWTClaims?, request: HubRequestInfo) -> String? { claims?.userId } }
enum BearerToken { static func extract(authorization: String?, query: String?) -> String? { nil } }
import Mesh
public enum MeshPeerEvent: Sendable { case reachable(String), unreachable(String), left(String) }
extension MeshNode {
    @discardableResult func publish(_ p: [UInt8], to d: [String]?) -> Bool { publish(p); return true }
    func isReachable(_ p: String) -> Bool { true }
    var onPeerEvent: ((MeshPeerEvent) -> Void)? { get { nil } set {} }
}
