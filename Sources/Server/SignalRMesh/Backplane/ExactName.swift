/// A group name or user id compared byte for byte, as ASP.NET Core compares them.
///
/// Swift's `String` equality and hashing follow Unicode canonical equivalence: "grüppe" with a precomposed ü equals
/// "gru\u{0308}ppe". Two users or groups whose names merely look alike must stay apart, so these keys compare the
/// UTF-8 bytes.
struct ExactName: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (a: ExactName, b: ExactName) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    func hash(into hasher: inout Hasher) {
        var string = self.string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
