// Value types shared by the HTTP/1.1 request parser, the response writer and the router.
// Nothing here touches sockets or Foundation.

// MARK: - Headers

/// An ordered list of header fields with case-insensitive name lookup.
///
/// Order and duplicates are kept exactly as received (or added), because some fields are lists
/// (`Connection`, `Upgrade`) and repeated lines of such a field are one comma-separated list.
/// Lookups compare names byte by byte, ASCII case-folded, without allocating.
struct HTTPHeaders: Sequence, Equatable, Sendable, CustomStringConvertible {
    typealias Element = (name: String, value: String)

    private var fields: [Element]

    init() {
        fields = []
    }

    init(_ pairs: [(String, String)]) {
        fields = pairs.map { (name: $0.0, value: $0.1) }
    }

    /// Room for `capacity` lines without regrowing (the parser knows a typical request has ~10).
    mutating func reserveCapacity(_ capacity: Int) {
        fields.reserveCapacity(capacity)
    }

    /// Number of field lines (not distinct names).
    var count: Int { fields.count }

    var isEmpty: Bool { fields.isEmpty }

    /// Appends a field line, keeping any existing lines with the same name.
    mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces the first line named `name` (dropping any later duplicates), or appends one.
    mutating func replaceOrAdd(_ name: String, _ value: String) {
        guard let first = fields.firstIndex(where: { HTTPSyntax.nameEquals($0.name, name) }) else {
            fields.append((name: name, value: value))
            return
        }
        fields[first].value = value
        var index = fields.count - 1
        while index > first {
            if HTTPSyntax.nameEquals(fields[index].name, name) { fields.remove(at: index) }
            index -= 1
        }
    }

    /// Removes every line named `name`.
    mutating func remove(_ name: String) {
        fields.removeAll { HTTPSyntax.nameEquals($0.name, name) }
    }

    /// The value of the first line named `name`, if any.
    subscript(_ name: String) -> String? {
        for field in fields where HTTPSyntax.nameEquals(field.name, name) {
            return field.value
        }
        return nil
    }

    /// The values of every line named `name`, in order.
    func values(_ name: String) -> [String] {
        fields.compactMap { HTTPSyntax.nameEquals($0.name, name) ? $0.value : nil }
    }

    /// Whether any line named `name` holds `token` as one of its comma-separated elements
    /// (ASCII case-insensitive, surrounding spaces/tabs ignored). `Connection: keep-alive, Upgrade`
    /// contains both `upgrade` and `keep-alive`.
    func containsToken(_ name: String, _ token: String) -> Bool {
        for field in fields where HTTPSyntax.nameEquals(field.name, name) {
            if listContainsToken(field.value, token) { return true }
        }
        return false
    }

    func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }
}
