/// The server broke the framing rules (the benchmark reports it and drops the connection).
struct WireError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
