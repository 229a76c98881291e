@testable import SignalRMesh

/// `cluster`: what one replica's hub layer reads from another through the backplane: ``ClusterMessage`` (with the
/// no-copy ``ClusterMessage/InvokeFields`` path the router uses for hub messages) and the ``ForwardMessage``s of
/// forwarded transport requests. The bytes come from a peer, so nothing may trap.
///
/// Checks:
/// - every decoded message encodes to bytes that decode to an equal message, and encoding that again gives the
///   same bytes;
/// - an invocation decoded whole and through `InvokeFields` agree (hub name, target, JSON);
/// - a forward message decodes only under the `forward` kind, and the general decoder leaves it alone.
///
/// Flag bit 0: put the cluster header (version, kind `forward`) in front of the payload, so that most inputs reach
/// the forward decoder.
enum ClusterTarget {
    static func run(_ input: FuzzInput) {
        var bytes = input.payload
        if input.flag(0) { bytes = [ClusterMessage.version, ClusterMessage.Kind.forward.rawValue] + bytes }
        if let message = ClusterMessage.decode(bytes) {
            let again = message.encode()
            check(ClusterMessage.decode(again) == message, "cluster message changed in a round trip: \(message)")
            check(ClusterMessage.decode(again).map { $0.encode() } == again, "cluster message encodes unstably")
            if case .invoke(let hub, let target, let json, let messagePack) = message {
                bytes.withUnsafeBytes { (raw) -> Void in
                    guard let fields = ClusterMessage.InvokeFields(raw) else {
                        fuzzFailure("decode accepted an invocation that InvokeFields refuses")
                    }
                    check(String(decoding: raw[fields.hub], as: UTF8.self) == hub, "InvokeFields: another hub name")
                    check(fields.target == target, "InvokeFields: another target")
                    check(Array(raw[fields.json]) == json, "InvokeFields: other JSON")
                    check(Array(raw[fields.messagePack]) == messagePack, "InvokeFields: other MessagePack")
                }
            }
        }
        bytes.withUnsafeBytes { (raw) -> Void in
            guard ClusterMessage.kind(of: raw) == .forward else { return }
            check(ClusterMessage.decode(bytes) == nil, "the general decoder took a forward message")
            guard let forward = ForwardMessage.decode(UnsafeRawBufferPointer(rebasing: raw[2...])) else { return }
            let again = forward.encode()
            let redecoded = again.withUnsafeBytes { ForwardMessage.decode(UnsafeRawBufferPointer(rebasing: $0[2...])) }
            check(redecoded == forward, "forward message changed in a round trip: \(forward)")
            check(redecoded.map { $0.encode() } == again, "forward message encodes unstably")
        }
    }
}
