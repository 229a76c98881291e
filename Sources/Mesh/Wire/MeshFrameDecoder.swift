/// Incremental decoder for the mesh byte stream: feed it whatever `read()` returned, then pull frames.
///
/// The length prefix is checked against `maxFrameBytes` as soon as its 4 bytes are in, before any of
/// the body is buffered, so a hostile peer can't make us allocate 4 GiB. After an error the stream is
/// unusable (the link closes), and the decoder keeps returning the same error.
public struct MeshFrameDecoder: Sendable {
    /// Largest accepted `type + body` length. Raised once a link is authenticated.
    public var maxFrameBytes: Int
    /// Strings handed out without allocating (the node ids).
    public let intern: InternTable?

    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var failure: MeshWireError?
    /// The intern index of the last DATA frame's origin (-1: none), tried first for the next one.
    private var lastOrigin = -1

    /// - Parameter maxFrameBytes: largest frame (type byte + body) accepted; default 4 MiB.
    public init(maxFrameBytes: Int = MeshProtocol.defaultMaxFrameBytes, intern: InternTable? = nil) {
        self.maxFrameBytes = maxFrameBytes
        self.intern = intern
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedCount: Int { buffer.count - readIndex }

    /// Appends received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfUseful()
        // As typed bytes: one memcpy (a raw buffer goes through the generic, byte-at-a-time path).
        buffer.append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// Appends received bytes.
    public mutating func append(_ bytes: [UInt8]) {
        compactIfUseful()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes.
    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        compactIfUseful()
        buffer.append(contentsOf: bytes)
    }

    /// Removes and returns the bytes not yet returned as frames (what follows the handshake on an encrypted link
    /// belongs to the record layer).
    public mutating func takeBuffered() -> [UInt8] {
        let rest = Array(buffer[readIndex...])
        buffer.removeAll(keepingCapacity: false)
        readIndex = 0
        return rest
    }

    /// The next frame if it is a complete DATA frame without optional parts, as a ``MeshDataView`` whose payload
    /// points into the decoder's buffer and is valid only until the next call on the decoder; nil otherwise (more
    /// bytes are needed, or the next frame is of another kind, or bad: ``next()`` returns or throws it). The
    /// receiving link's hot path: nothing is allocated for a frame that is dropped, nor a ``MeshFrame`` built.
    public mutating func nextData() throws(MeshWireError) -> MeshDataView? {
        if let failure { throw failure }
        if readIndex > 0 && readIndex == buffer.count {
            // Everything was returned, the last frame perhaps as a view into this storage: reuse it only now.
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            readIndex = 0
        }
        let available = buffer.count - readIndex
        let length =
            available < 5
            ? 0
            : Int(buffer[readIndex]) << 24 | Int(buffer[readIndex + 1]) << 16 | Int(buffer[readIndex + 2]) << 8
                | Int(buffer[readIndex + 3])
        // Anything but a whole DATA frame (or too little to tell, or a bad length) goes the general way.
        guard length > 0, length <= maxFrameBytes, available >= 4 + length,
            buffer[readIndex + 4] == MeshFrameType.data.rawValue
        else { return nil }
        let start = readIndex + 5
        let end = readIndex + 4 + length
        // The storage outlives the call: it is not touched again before the next call on the decoder.
        let raw = buffer.withUnsafeBytes { $0 }
        do throws(MeshWireError) {
            // nil: optional parts (left for `next()`).
            guard
                let view = try MeshDataView.decode(raw, start: start, end: end, intern: intern, internHint: lastOrigin)
            else { return nil }
            lastOrigin = view.internIndex ?? -1
            readIndex = end
            return view
        } catch {
            return try fail(error)
        }
    }

    /// Returns the next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(MeshWireError) -> MeshFrame? {
        if let failure { throw failure }
        let available = buffer.count - readIndex
        guard available >= 4 else { return nil }
        let length =
            Int(buffer[readIndex]) << 24 | Int(buffer[readIndex + 1]) << 16 | Int(buffer[readIndex + 2]) << 8
            | Int(buffer[readIndex + 3])
        if length > maxFrameBytes { return try fail(.frameTooLarge(length: length, limit: maxFrameBytes)) }
        if length == 0 { return try fail(.emptyFrame) }
        guard available >= 4 + length else { return nil }
        let start = readIndex + 4
        let intern = self.intern
        let result: Result<MeshFrame, MeshWireError> = buffer.withUnsafeBytes { raw in
            do throws(MeshWireError) {
                return .success(try MeshFrame.decode(raw, range: start..<(start + length), intern: intern))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let frame):
            readIndex = start + length
            if readIndex == buffer.count {
                // Common case: the read ended on a frame boundary; reuse the storage.
                buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
                readIndex = 0
            }
            return frame
        case .failure(let error):
            return try fail(error)
        }
    }

    private mutating func fail<T>(_ error: MeshWireError) throws(MeshWireError) -> T? {
        failure = error
        throw error
    }

    /// Drops consumed bytes once they are at least half the buffer, keeping appends amortised O(1).
    private mutating func compactIfUseful() {
        guard readIndex > 0, readIndex >= buffer.count - readIndex else { return }
        buffer.removeSubrange(0..<readIndex)
        readIndex = 0
    }
}
