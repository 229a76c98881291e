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
