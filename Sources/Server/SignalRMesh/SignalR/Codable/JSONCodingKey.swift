// The coding key the JSONValue coders make up themselves: array positions in coding paths, the `super` key, and the
// member names of objects walked without a known key type (AnyJSON through a foreign coder).

/// A coding key with a string and an optional integer value.
struct JSONCodingKey: CodingKey, Sendable {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }

    /// The key of element `index` in an array, named as Foundation's coders name it in coding paths ("Index 3").
    init(index: Int) {
        self.stringValue = "Index \(index)"
        self.intValue = index
    }

    /// The key `superEncoder()` and `superDecoder()` use when none is given.
    static let `super` = JSONCodingKey(stringValue: "super")
}
