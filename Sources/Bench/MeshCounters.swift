import Foundation
import Glibc
import NetKit
import Synchronization

/// DATA frames summed over a replica's peers (`GET /api/mesh`).
struct MeshCounters {
    var received: UInt64
    var sent: UInt64

    static func read(_ url: HubURL) -> MeshCounters? {
        guard let body = SystemInfo.httpGet(host: url.host, port: url.port, path: "/api/mesh", timeoutSeconds: 3),
            let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let peers = object["peers"] as? [[String: Any]]
        else { return nil }
        var c = MeshCounters(received: 0, sent: 0)
        for p in peers {
            c.received &+= (p["dataReceived"] as? NSNumber)?.uint64Value ?? 0
            c.sent &+= (p["dataSent"] as? NSNumber)?.uint64Value ?? 0
        }
        return c
    }
}
