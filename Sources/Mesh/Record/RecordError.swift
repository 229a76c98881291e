/// Why a link's records could not be sealed or opened. Any of these drops the link.
public enum RecordError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyRecord
    case recordTooLarge(length: Int, limit: Int)
    /// Wrong key or counter, or any byte changed (including a record dropped, replayed or reordered).
    case authenticationFailed(record: UInt64)
    /// 2⁶⁴ − 1 records in one direction: the counter would repeat.
    case counterExhausted

    public var description: String {
        switch self {
        case .emptyRecord: return "empty record"
        case .recordTooLarge(let length, let limit): return "record of \(length) bytes exceeds the \(limit)-byte limit"
        case .authenticationFailed(let record): return "record authentication failed (record \(record))"
        case .counterExhausted: return "record counter exhausted"
        }
    }
}
