/// A hub method parameter that receives a stream from the client (client→server streaming): an `AsyncSequence`
/// of the items the client sends, in order, each decoded as `Element`. It ends when the client completes the
/// stream; it throws a ``HubStreamError`` when the client completes it with an error, an item doesn't decode,
/// the method leaves more than 1 MiB of items unread, or the connection closes.
///
/// ```swift
/// hub.method("Sum") { (caller, numbers: HubStream<Int>) async throws -> Int in
///     var sum = 0
///     for try await n in numbers { sum += n }
///     return sum
/// }
/// ```
///
/// Stream parameters are bound, in order, from the invocation's `streamIds`; the other parameters from its
/// `arguments`. Iterate a stream once. When the method returns, its streams end (later items are ignored).
public struct HubStream<Element: Decodable>: AsyncSequence, Decodable, Sendable {
    let source: UploadStream

    init(source: UploadStream) { self.source = source }

    /// Not decodable from an argument: a stream is bound from the invocation's `streamIds`.
    public init(from decoder: any Decoder) throws {
        throw HubStreamError("A HubStream is bound from the invocation's streamIds, not from its arguments.")
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<UploadStream.Item, any Error>.AsyncIterator
        let source: UploadStream

        public mutating func next() async throws -> Element? {
            guard let item = try await base.next() else { return nil }
            source.consumed(item.size)
            do {
                return try HubArgumentCoding.decode(Element.self, from: item.value)
            } catch {
                throw HubStreamError.bindingFailed
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: source.items.makeAsyncIterator(), source: source)
    }
}

/// A parameter type bound from an upload stream instead of an argument.
protocol UploadStreamParameter {
    init(upload: UploadStream)
}

extension HubStream: UploadStreamParameter {
    init(upload: UploadStream) { self.init(source: upload) }
}
