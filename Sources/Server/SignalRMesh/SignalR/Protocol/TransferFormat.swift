/// How a transport carries bytes: `Text` (UTF-8 only: JSON) or `Binary` (any bytes: MessagePack). The names are
/// the ones negotiate lists and handshake errors quote.
enum TransferFormat: String, Sendable {
    case text = "Text"
    case binary = "Binary"
}
