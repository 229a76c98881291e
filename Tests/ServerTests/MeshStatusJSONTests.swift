import Foundation
import Testing

@testable import Mesh
@testable import SignalRMesh

/// Issue 9, weakness 8 (second half): an epoch (or any counter) of 2^63 or more trapped in the /api/mesh encoder,
/// which converted every UInt64 to Int.
@Suite struct MeshStatusJSONTests {
    static let big = UInt64.max

    func snapshot(_ v: UInt64) -> MeshSnapshot {
        let peer = PeerSnapshot(
            id: "b", address: "127.0.0.1:6002", state: .up, sinceMillis: .max, epoch: v, dialedByUs: true, encrypted: true, rttMicros: v,
            dataSent: v, dataReceived: v, relayed: v, duplicatesDropped: v, outOfOrderDropped: v, staleDropped: v,
            unexpectedOrigin: v,
            replayBufferedMessages: .max, replayBufferedBytes: .max, gaps: v, sendGaps: v, dataWrites: v,
            feeding: ["a"], requested: ["b"], reportedLinks: [LinkReport(peerId: "a", peerEpoch: v, up: true)])
        let origin = OriginSnapshot(id: "b", epoch: v, highestDelivered: v, gaps: v, logCount: .max, logBytes: .max)
        return MeshSnapshot(
            nodeId: "a", epoch: v, cluster: "c", published: v, delivered: v, ownLogCount: 0, ownLogBytes: 0, refusedHandshakes: v,
            throttledHandshakes: v, failedAuthentications: v,
            peers: [peer], origins: [origin])
    }

    @Test(arguments: [UInt64.max, UInt64(1) << 63, UInt64(Int64.max), 0])
    func everyUInt64IsWrittenExactly(_ v: UInt64) throws {
        let config = MeshConfig(cluster: "c", secret: "s", replicas: [])
        let text = String(decoding: MeshStatusJSON.render(snapshot(v), config: config), as: UTF8.self)
        #expect(text.contains("\"epoch\":\(v),"))
        #expect(text.contains("\"highestDelivered\":\(v),"))
        #expect(text.contains("\"rttMicros\":\(v),"))
        #expect(text.contains("\"unexpectedOrigin\":\(v),"))
        #expect(text.contains("\"refusedHandshakes\":\(v),"))
        #expect(text.contains("\"throttledHandshakes\":\(v),"))
        #expect(text.contains("\"failedAuthentications\":\(v),"))
        #expect(text.contains("\"encrypted\":true,"))
        // The whole document is valid JSON, and the big numbers come back exactly (as text: Double can't hold them).
        let parsed = try JSONParser.parse(Array(text.utf8))
        guard case .object(let fields) = parsed, case .number(let epoch)? = fields.first(where: { $0.0 == "epoch" })?.1 else {
            Issue.record("no epoch in \(text.prefix(200))")
            return
        }
        #expect(epoch == String(v))
    }
}
