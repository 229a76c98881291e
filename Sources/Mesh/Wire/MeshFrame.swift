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

/// Protocol version carried in HELLO; a peer speaking another version is rejected.
public enum MeshProtocol {
    /// 2: PAKE handshake (HELLO with flags, SHARE, CONFIRM) and optionally encrypted links. 1: HMAC proofs.
    public static let version: UInt16 = 2
    public static let nonceCount = 32
    public static let macCount = 32
    /// Length of a PAKE share (an X25519 u-coordinate).
    public static let shareCount = 32
    /// Bytes of framing in front of every frame body: u32 length + u8 type.
    public static let headerCount = 5
    /// Default largest frame (type + body) a peer may send.
    public static let defaultMaxFrameBytes = 4 << 20
    /// Default largest frame before the link is authenticated (handshake frames are well under this).
    public static let defaultMaxHandshakeFrameBytes = 1024
    /// Longest REJECT reason put on the wire (they are short diagnostics).
    public static let maxRejectReasonBytes = 200
}

/// "(origin, epoch, seq)": used by RESUME (where to continue) and ACK (what arrived).
public struct OriginCursor: Sendable, Hashable {
    public var origin: String
    public var epoch: UInt64
    public var seq: UInt64

    public init(origin: String, epoch: UInt64, seq: UInt64) {
        self.origin = origin
        self.epoch = epoch
        self.seq = seq
    }
}

/// One entry of a LINKS frame: the sender's view of its direct link to `peerId`, and what it holds of
/// `peerId`'s messages (what it could relay).
public struct LinkReport: Sendable, Hashable {
    public var peerId: String
    public var peerEpoch: UInt64
    public var up: Bool
    /// The life of `peerId` the sender's log of its messages belongs to (0: it holds none).
    public var heldEpoch: UInt64
    /// From this seq of `heldEpoch` on, the sender holds every message of `peerId` but those the origin
    /// itself reported lost (``OriginLog/heldFrom``; 0 when `heldEpoch` is 0). A relayer that joined the
    /// life midway can't feed a receiver whose cursor is below it.
    public var heldFrom: UInt64

    public init(peerId: String, peerEpoch: UInt64, up: Bool, heldEpoch: UInt64 = 0, heldFrom: UInt64 = 0) {
        self.peerId = peerId
        self.peerEpoch = peerEpoch
        self.up = up
        self.heldEpoch = heldEpoch
        self.heldFrom = heldFrom
    }

    /// Whether a relayer with this report can feed, with no message missing that the origin may still hold,
    /// a receiver at `cursor` (its epoch and highest delivered seq of `peerId`; epoch 0 = it knows nothing,
    /// wants only new messages).
    public func covers(epoch: UInt64, seq: UInt64) -> Bool {
        if epoch == 0 { return true }
        guard heldEpoch != 0 else { return false }
        if heldEpoch == epoch { return heldFrom <= seq &+ 1 }
        // A newer life is all news to the receiver: only a log holding it from its start will do.
        return heldEpoch > epoch && heldFrom <= 1
    }
}

/// HELLO body: who is talking, for which cluster, a fresh nonce, and what the sender asks of the link.
public struct MeshHello: Sendable, Hashable {
    /// Flag bit: the sender wants the link encrypted (it is when either side asks).
    public static let encryptFlag: UInt8 = 0x01

    public var protocolVersion: UInt16
    public var cluster: String
    public var nodeId: String
    public var epoch: UInt64
    public var nonce: [UInt8]
    /// ``encryptFlag``; other bits are reserved (sent as 0, bound into the handshake like everything else).
    public var flags: UInt8

    public init(
        protocolVersion: UInt16 = MeshProtocol.version, cluster: String, nodeId: String, epoch: UInt64, nonce: [UInt8],
        flags: UInt8 = 0
    ) {
        self.protocolVersion = protocolVersion
        self.cluster = cluster
        self.nodeId = nodeId
        self.epoch = epoch
        self.nonce = nonce
        self.flags = flags
    }

    public var wantsEncryption: Bool { flags & MeshHello.encryptFlag != 0 }
}

/// DATA body: one message of `origin`'s life `epoch`, numbered `seq`.
public struct MeshData: Sendable, Hashable {
    /// Bit 0: the sender knowingly skipped messages before this one (they were evicted from its log, or the
    /// origin reported them lost): nobody has them any more.
    public static let gapBeforeFlag: UInt8 = 0x01
    /// Bit 1: a relayer skipped messages before this one that it never held (it joined the origin's life
    /// later); the origin may still have them. The receiver decides: it takes the skip only when it chose
    /// this relayer knowing that, and otherwise drops the frame and looks for a better route.
    public static let notHeldBeforeFlag: UInt8 = 0x02

    public var origin: String
    public var epoch: UInt64
    public var seq: UInt64
    public var flags: UInt8
    public var payload: [UInt8]

    public init(origin: String, epoch: UInt64, seq: UInt64, flags: UInt8 = 0, payload: [UInt8]) {
        self.origin = origin
        self.epoch = epoch
        self.seq = seq
        self.flags = flags
        self.payload = payload
    }

    public var gapBefore: Bool { flags & MeshData.gapBeforeFlag != 0 }
    public var notHeldBefore: Bool { flags & MeshData.notHeldBeforeFlag != 0 }
}

/// Every frame of the mesh protocol.
///
/// Wire form: `[u32 BE length of (type + body)][u8 type][body]`. Integers are big-endian, strings are
/// `u16 length + UTF-8`, byte strings `u32 length + raw`; nonces, shares and MACs are fixed 32 bytes.
/// On an encrypted link this byte stream is carried inside sealed records (see ``RecordSealer``).
public enum MeshFrame: Sendable, Hashable {
    case hello(MeshHello)
    /// The sender's PAKE share (see ``Handshake``).
    case share([UInt8])
    /// Key confirmation: proves the sender derived the same key (see ``Handshake``).
    case confirm(mac: [UInt8])
    case accept
    case reject(reason: String)
    case resume([OriginCursor])
    case data(MeshData)
    case ack([OriginCursor])
    case heartbeat(nanos: UInt64)
    case heartbeatAck(nanos: UInt64)
    case links([LinkReport])
    case leaving

    public var type: MeshFrameType {
        switch self {
        case .hello: return .hello
        case .share: return .share
        case .confirm: return .confirm
        case .accept: return .accept
        case .reject: return .reject
        case .resume: return .resume
        case .data: return .data
        case .ack: return .ack
        case .heartbeat: return .heartbeat
        case .heartbeatAck: return .heartbeatAck
        case .links: return .links
        case .leaving: return .leaving
        }
    }
}

/// A malformed mesh stream. Any of these closes the link (after a REJECT during the handshake).
public enum MeshWireError: Error, Sendable, Equatable, CustomStringConvertible {
    case frameTooLarge(length: Int, limit: Int)
    case emptyFrame
    case unknownType(UInt8)
    case truncated(MeshFrameType)
    case trailingBytes(MeshFrameType)
    case invalidUTF8(MeshFrameType)
    case badFixedLength(MeshFrameType)
    case valueTooLong(MeshFrameType)

    public var description: String {
        switch self {
        case .frameTooLarge(let length, let limit): return "frame of \(length) bytes exceeds the \(limit)-byte limit"
        case .emptyFrame: return "frame without a type byte"
        case .unknownType(let code): return "unknown frame type \(code)"
        case .truncated(let type): return "truncated \(type) frame"
        case .trailingBytes(let type): return "trailing bytes after \(type) frame"
        case .invalidUTF8(let type): return "invalid UTF-8 in \(type) frame"
        case .badFixedLength(let type): return "wrong nonce/share/MAC length in \(type) frame"
        case .valueTooLong(let type): return "string or list too long to encode in \(type) frame"
        }
    }
}

// MARK: - Encoding

extension MeshFrame {
    /// Appends the framed bytes (header included) to `buffer`.
    ///
    /// Strings longer than 65535 bytes and lists longer than 65535 entries can't be expressed; callers
    /// never build them (ids are ≤ 255 bytes, lists are bounded by the replica count), so they trap.
    public func encode(into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.appendUInt32(0)  // patched below
        buffer.append(type.rawValue)
        switch self {
        case .hello(let hello):
            precondition(hello.nonce.count == MeshProtocol.nonceCount, "HELLO nonce must be 32 bytes")
            buffer.appendUInt16(hello.protocolVersion)
            buffer.appendString(hello.cluster)
            buffer.appendString(hello.nodeId)
            buffer.appendUInt64(hello.epoch)
            buffer.append(contentsOf: hello.nonce)
            buffer.append(hello.flags)
        case .share(let share):
            precondition(share.count == MeshProtocol.shareCount, "SHARE must be 32 bytes")
            buffer.append(contentsOf: share)
        case .confirm(let mac):
            precondition(mac.count == MeshProtocol.macCount, "CONFIRM MAC must be 32 bytes")
            buffer.append(contentsOf: mac)
        case .accept, .leaving:
            break
        case .reject(let reason):
            // Reasons are diagnostics; cut rather than fail on an absurdly long one (and stay under the
            // handshake frame limit).
            buffer.appendString(String(decoding: reason.utf8.prefix(MeshProtocol.maxRejectReasonBytes), as: UTF8.self))
        case .resume(let cursors), .ack(let cursors):
            precondition(cursors.count <= Int(UInt16.max))
            buffer.appendUInt16(UInt16(cursors.count))
            for cursor in cursors {
                buffer.appendString(cursor.origin)
                buffer.appendUInt64(cursor.epoch)
                buffer.appendUInt64(cursor.seq)
            }
        case .data(let data):
            MeshFrame.appendDataBody(
                origin: data.origin, epoch: data.epoch, seq: data.seq, flags: data.flags, payload: data.payload,
                into: &buffer)
        case .heartbeat(let nanos), .heartbeatAck(let nanos):
            buffer.appendUInt64(nanos)
        case .links(let reports):
            precondition(reports.count <= Int(UInt16.max))
            buffer.appendUInt16(UInt16(reports.count))
            for report in reports {
                buffer.appendString(report.peerId)
                buffer.appendUInt64(report.peerEpoch)
                buffer.append(report.up ? 1 : 0)
                buffer.appendUInt64(report.heldEpoch)
                buffer.appendUInt64(report.heldFrom)
            }
        }
        buffer.patchUInt32(at: start, UInt32(buffer.count - start - 4))
    }

    /// The framed bytes of this frame as a new array.
    public func encoded() -> [UInt8] {
        var buffer = [UInt8]()
        encode(into: &buffer)
        return buffer
    }

    /// Appends a whole DATA frame without building a ``MeshData`` (the link's batching write path).
    @inline(__always)
    public static func appendData(
        origin: String, epoch: UInt64, seq: UInt64, flags: UInt8, payload: [UInt8], into buffer: inout [UInt8]
    ) {
        let bodyCount = 2 + origin.utf8.count + 8 + 8 + 1 + 4 + payload.count
        buffer.appendUInt32(UInt32(1 + bodyCount))
        buffer.append(MeshFrameType.data.rawValue)
        appendDataBody(origin: origin, epoch: epoch, seq: seq, flags: flags, payload: payload, into: &buffer)
    }

    /// Size on the wire of a DATA frame, header included.
    @inline(__always)
    public static func dataFrameCount(originCount: Int, payloadCount: Int) -> Int {
        MeshProtocol.headerCount + 2 + originCount + 8 + 8 + 1 + 4 + payloadCount
    }

    @inline(__always)
    private static func appendDataBody(
        origin: String, epoch: UInt64, seq: UInt64, flags: UInt8, payload: [UInt8], into buffer: inout [UInt8]
    ) {
        buffer.appendString(origin)
        buffer.appendUInt64(epoch)
        buffer.appendUInt64(seq)
        buffer.append(flags)
        buffer.appendUInt32(UInt32(payload.count))
        buffer.append(contentsOf: payload)
    }
}

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always) mutating func appendUInt32(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always) mutating func appendUInt64(_ value: UInt64) {
        appendUInt32(UInt32(truncatingIfNeeded: value >> 32))
        appendUInt32(UInt32(truncatingIfNeeded: value))
    }

    @inline(__always) mutating func appendString(_ value: String) {
        let count = value.utf8.count
        precondition(count <= Int(UInt16.max), "mesh string longer than 65535 bytes")
        appendUInt16(UInt16(count))
        append(contentsOf: value.utf8)
    }

    /// `u32 length + raw`, the wire form of a byte string (used in the handshake transcript).
    @inline(__always) mutating func appendLengthPrefixedBytes(_ value: [UInt8]) {
        appendUInt32(UInt32(value.count))
        append(contentsOf: value)
    }

    @inline(__always) mutating func patchUInt32(at index: Int, _ value: UInt32) {
        self[index] = UInt8(truncatingIfNeeded: value >> 24)
        self[index + 1] = UInt8(truncatingIfNeeded: value >> 16)
        self[index + 2] = UInt8(truncatingIfNeeded: value >> 8)
        self[index + 3] = UInt8(truncatingIfNeeded: value)
    }
}

// MARK: - Decoding

/// Strings the decoder can hand out without allocating or validating UTF-8 again: the node ids, which
/// every DATA, ACK and RESUME frame repeats. Small (one entry per replica), so a linear scan wins.
/// A class, so that handing it to the decoder per frame costs one retain rather than one per array.
public final class InternTable: Sendable {
    private let strings: [String]
    private let utf8: [[UInt8]]

    public init(_ strings: [String] = []) {
        self.strings = strings
        self.utf8 = strings.map { Array($0.utf8) }
    }

    /// The known string with exactly these bytes, if any.
    @inline(__always)
    func lookup(_ raw: UnsafeRawBufferPointer) -> String? {
        for i in utf8.indices where utf8[i].count == raw.count {
            if utf8[i].withUnsafeBytes({ $0.elementsEqual(raw) }) { return strings[i] }
        }
        return nil
    }
}

/// Cursor over one frame body. Bounds are checked on every read; errors name the frame type.
struct WireReader: ~Copyable {
    let base: UnsafeRawBufferPointer
    var index: Int
    let end: Int
    let type: MeshFrameType
    let intern: InternTable?

    init(_ base: UnsafeRawBufferPointer, range: Range<Int>, type: MeshFrameType, intern: InternTable? = nil) {
        self.base = base
        self.index = range.lowerBound
        self.end = range.upperBound
        self.type = type
        self.intern = intern
    }

    var remaining: Int { end - index }

    mutating func u8() throws(MeshWireError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(type) }
        defer { index += 1 }
        return base[index]
    }

    mutating func u16() throws(MeshWireError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated(type) }
        defer { index += 2 }
        return UInt16(base[index]) << 8 | UInt16(base[index + 1])
    }

    mutating func u32() throws(MeshWireError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated(type) }
        defer { index += 4 }
        return UInt32(base[index]) << 24 | UInt32(base[index + 1]) << 16 | UInt32(base[index + 2]) << 8
            | UInt32(base[index + 3])
    }

    mutating func u64() throws(MeshWireError) -> UInt64 {
        let high = try u32()
        let low = try u32()
        return UInt64(high) << 32 | UInt64(low)
    }

    mutating func raw(_ count: Int) throws(MeshWireError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated(type) }
        defer { index += count }
        return [UInt8](UnsafeRawBufferPointer(rebasing: base[index..<(index + count)]))
    }

    mutating func string() throws(MeshWireError) -> String {
        let count = Int(try u16())
        guard remaining >= count else { throw .truncated(type) }
        let slice = UnsafeRawBufferPointer(rebasing: base[index..<(index + count)])
        index += count
        if let intern, let known = intern.lookup(slice) { return known }
        guard let value = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8(type) }
        return value
    }

    mutating func skipRest() { index = end }

    func finish() throws(MeshWireError) {
        guard remaining == 0 else { throw .trailingBytes(type) }
    }
}

extension MeshFrame {
    /// Decodes one frame from `bytes[range]`, which holds the type byte and body (no length prefix).
    /// - Parameter intern: strings to reuse instead of allocating (the node ids).
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, range: Range<Int>, intern: InternTable? = nil
    ) throws(MeshWireError) -> MeshFrame {
        guard !range.isEmpty else { throw .emptyFrame }
        let code = bytes[range.lowerBound]
        guard let type = MeshFrameType(rawValue: code) else { throw .unknownType(code) }
        var reader = WireReader(bytes, range: (range.lowerBound + 1)..<range.upperBound, type: type, intern: intern)
        let frame: MeshFrame
        switch type {
        case .hello:
            let version = try reader.u16()
            let cluster = try reader.string()
            let nodeId = try reader.string()
            let epoch = try reader.u64()
            guard reader.remaining >= MeshProtocol.nonceCount else { throw .badFixedLength(type) }
            let nonce = try reader.raw(MeshProtocol.nonceCount)
            // Version 1 had no flags byte; other versions may carry more. Parse what we can so the peer gets a
            // clear "unsupported protocol version" instead of a parse error.
            let flags = reader.remaining > 0 ? try reader.u8() : 0
            if version != MeshProtocol.version { reader.skipRest() }
            frame = .hello(
                MeshHello(protocolVersion: version, cluster: cluster, nodeId: nodeId, epoch: epoch, nonce: nonce, flags: flags))
        case .share:
            guard reader.remaining == MeshProtocol.shareCount else { throw .badFixedLength(type) }
            frame = .share(try reader.raw(MeshProtocol.shareCount))
        case .confirm:
            guard reader.remaining == MeshProtocol.macCount else { throw .badFixedLength(type) }
            frame = .confirm(mac: try reader.raw(MeshProtocol.macCount))
        case .accept:
            frame = .accept
        case .reject:
            frame = .reject(reason: try reader.string())
        case .resume, .ack:
            let count = Int(try reader.u16())
            var cursors = [OriginCursor]()
            // Each entry is ≥ 18 bytes; don't let a forged count reserve more than the body could hold.
            cursors.reserveCapacity(min(count, reader.remaining / 18))
            for _ in 0..<count {
                let origin = try reader.string()
                let epoch = try reader.u64()
                let seq = try reader.u64()
                cursors.append(OriginCursor(origin: origin, epoch: epoch, seq: seq))
            }
            frame = type == .resume ? .resume(cursors) : .ack(cursors)
        case .data:
            let origin = try reader.string()
            let epoch = try reader.u64()
            let seq = try reader.u64()
            let flags = try reader.u8()
            let count = Int(try reader.u32())
            let payload = try reader.raw(count)
            frame = .data(MeshData(origin: origin, epoch: epoch, seq: seq, flags: flags, payload: payload))
        case .heartbeat:
            frame = .heartbeat(nanos: try reader.u64())
        case .heartbeatAck:
            frame = .heartbeatAck(nanos: try reader.u64())
        case .links:
            let count = Int(try reader.u16())
            var reports = [LinkReport]()
            // Each entry is ≥ 27 bytes.
            reports.reserveCapacity(min(count, reader.remaining / 27))
            for _ in 0..<count {
                let peerId = try reader.string()
                let epoch = try reader.u64()
                let up = try reader.u8()
                let heldEpoch = try reader.u64()
                let heldFrom = try reader.u64()
                reports.append(
                    LinkReport(peerId: peerId, peerEpoch: epoch, up: up != 0, heldEpoch: heldEpoch, heldFrom: heldFrom))
            }
            frame = .links(reports)
        case .leaving:
            frame = .leaving
        }
        try reader.finish()
        return frame
    }

    /// Decodes one frame from type byte + body (convenience for tests and cold paths).
    public static func decode(typeAndBody: [UInt8]) throws(MeshWireError) -> MeshFrame {
        let result: Result<MeshFrame, MeshWireError> = typeAndBody.withUnsafeBytes { raw in
            do throws(MeshWireError) {
                return .success(try decode(raw, range: 0..<raw.count))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
