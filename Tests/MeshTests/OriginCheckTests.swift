import Foundation
import NetKit
import Testing

@testable import Mesh

/// DATA for an origin is taken only from that origin or from the peer asked (RESUME) to relay it.
@Suite(.serialized) struct OriginCheckTests {
    /// "a" is a hand-driven peer with the secret; b and c are real nodes linked directly. a sends DATA claiming
    /// to be c's with an enormous epoch: before the fix b adopted that epoch and dropped c's real messages as stale.
    @Test func foreignOriginWithHugeEpochDoesNotStaleTheRealOne() throws {
        let mesh = try TestMesh(ids: ["a", "b", "c"], start: false)
        defer { mesh.shutdownAll() }
        try mesh.startNode(mesh.index("b"))
        try mesh.startNode(mesh.index("c"))
        #expect(try waitUntil { try mesh.snapshot("b").peer("c")?.state == .up && mesh.snapshot("b").peer("c")?.requested == ["c"] })

        let raw = try RawPeer(port: mesh.listeners[mesh.index("b")].port)
        #expect(try raw.handshake(as: "a", epoch: 42, config: mesh.config, expecting: "b"))
        #expect(try waitUntil { try mesh.snapshot("b").peer("a")?.requested == ["a"] })
        // Forged: c's origin, a life far in the future, from a peer nobody asked to relay c.
        raw.send(.data(MeshData(origin: "c", epoch: UInt64.max - 1, seq: 1, payload: Array("forged".utf8))))
        raw.send(.data(MeshData(origin: "a", epoch: 42, seq: 1, payload: Array("a:0".utf8))))
        #expect(waitUntil { mesh.delivered("b").count(from: "a") == 1 })

        try mesh.publish(from: "c", 0..<20)
        #expect(waitUntil { mesh.delivered("b").count(from: "c") == 20 })
        #expect(mesh.delivered("b").messages(from: "c") == expectedMessages("c", 0..<20))
        let b = try mesh.snapshot("b")
        #expect(b.peer("a")?.unexpectedOrigin == 1)
        #expect(b.origin("c")?.epoch != UInt64.max - 1)
    }
}
