/// Splits one connection's incoming bytes into hub messages and parses them, for one hub protocol.
///
/// Feed whatever the transport delivered with ``append(_:)``, then call ``next()`` until it returns nil. The
/// messages don't depend on how the bytes were split.
protocol HubMessageReader {
    /// Bytes received and not yet returned as messages.
    var bufferedCount: Int { get }
    mutating func append(_ bytes: UnsafeRawBufferPointer)
    /// The next message: `.success`, or `.failure` for a message that is framed but invalid (the connection then
    /// closes); nil when more bytes are needed.
    /// - Throws: ``FramerError/messageTooLarge`` when a message exceeds the size limit (the connection closes with
    ///   the maximum-message-size error).
    mutating func next() throws -> Result<HubMessage, any Error>?
}
