// State shared by all the nodes of one JSONValueEncoder run.

/// What every node of one encoding shares: options, the nesting count and the first misuse seen.
final class JSONEncodingContext {
    let userInfo: [CodingUserInfoKey: Any]
    let maxDepth: Int
    /// How many `encode(to:)` calls of non-scalar values are running, one inside the other.
    var nesting = 0
    /// The first misuse of the container API; reported when the encoding ends (container getters cannot throw).
    var misuse: EncodingError?

    init(userInfo: [CodingUserInfoKey: Any], maxDepth: Int) {
        self.userInfo = userInfo
        self.maxDepth = maxDepth
    }

    /// Enters one more level of nesting, or throws if that goes beyond `maxDepth`. Pair with ``leave()``.
    func enter(_ value: Any, at path: @autoclosure () -> [any CodingKey]) throws {
        guard nesting < maxDepth else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: path(), debugDescription: "Value nested more than \(maxDepth) levels deep."))
        }
        nesting += 1
    }

    func leave() { nesting -= 1 }

    func recordMisuse(_ message: String, at path: [any CodingKey]) {
        if misuse == nil {
            misuse = .invalidValue((), .init(codingPath: path, debugDescription: message))
        }
    }
}
