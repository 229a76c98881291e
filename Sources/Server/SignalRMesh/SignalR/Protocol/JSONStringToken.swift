/// Where a string's content sits in the buffer (between the quotes) and whether it holds escapes.
/// Produced by ``JSONScanner/scanString()`` after the content has been fully validated.
struct JSONStringToken {
    var start: Int
    var end: Int
    var hasEscapes: Bool
}
