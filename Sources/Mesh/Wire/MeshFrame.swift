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
                origin: data.origin, epoch: data.epoch, seq: data.seq, flags: data.flags, destinations: data.destinations,
                filtered: data.filtered, payload: data.payload, into: &buffer)
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
    ///
    /// `destinations` and `filtered` are the optional parts (their flag bits are set from them); more than 255
    /// destinations or marks, or an id longer than 255 bytes, can't be expressed: callers never build them (the node
    /// caps both, ids are ≤ 255 bytes), so they trap.
    @inline(__always)
    public static func appendData(
        origin: String, epoch: UInt64, seq: UInt64, flags: UInt8, destinations: [String]? = nil,
        filtered: FilteredRange? = nil, payload: [UInt8], into buffer: inout [UInt8]
    ) {
        let start = buffer.count
        buffer.appendUInt32(0)  // patched below
        buffer.append(MeshFrameType.data.rawValue)
        appendDataBody(
            origin: origin, epoch: epoch, seq: seq, flags: flags, destinations: destinations, filtered: filtered,
            payload: payload, into: &buffer)
        buffer.patchUInt32(at: start, UInt32(buffer.count - start - 4))
    }

    /// Size on the wire of a DATA frame without optional parts, header included.
    @inline(__always)
    public static func dataFrameCount(originCount: Int, payloadCount: Int) -> Int {
        MeshProtocol.headerCount + 2 + originCount + 8 + 8 + 1 + 4 + payloadCount
    }

    /// Bytes a destinations list adds to a DATA frame.
    public static func destinationsCount(_ destinations: [String]?) -> Int {
        guard let destinations else { return 0 }
        return 1 + destinations.reduce(0) { $0 + 1 + $1.utf8.count }
    }

    @inline(__always)
    private static func appendDataBody(
        origin: String, epoch: UInt64, seq: UInt64, flags: UInt8, destinations: [String]?, filtered: FilteredRange?,
        payload: [UInt8], into buffer: inout [UInt8]
    ) {
        buffer.appendString(origin)
        buffer.appendUInt64(epoch)
        buffer.appendUInt64(seq)
        buffer.append(MeshData.flags(flags, destinations: destinations, filtered: filtered))
        if let destinations {
            precondition(destinations.count <= MeshData.maxDestinations, "more than 255 destinations")
            buffer.append(UInt8(destinations.count))
            for id in destinations { buffer.appendShortString(id) }
        }
        if let filtered {
            precondition(filtered.latest.count <= FilteredRange.maxMarks, "more than 255 filtered marks")
            buffer.appendUInt64(filtered.from)
            buffer.append(UInt8(filtered.latest.count))
            for mark in filtered.latest {
                buffer.appendShortString(mark.replica)
                buffer.appendUInt64(mark.seq)
            }
        }
        buffer.appendUInt32(UInt32(payload.count))
        buffer.append(contentsOf: payload)
    }
}

// MARK: - Decoding

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
            var parts: (destinations: [String]?, filtered: FilteredRange?) = (nil, nil)
            let view = try MeshDataView.decode(bytes, start: reader.index, end: reader.end, intern: intern, parts: &parts)!
            reader.skipRest()
            frame = .data(
                MeshData(
                    origin: view.origin(interned: intern), epoch: view.epoch, seq: view.seq, flags: view.flags,
                    destinations: parts.destinations, filtered: parts.filtered, payload: [UInt8](view.payload)))
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
