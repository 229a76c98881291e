@testable import Mesh

/// `meshframe`: the mesh stream decoder (`[u32 length][type][body]` frames) and every frame body decoder.
///
/// Checks:
/// - the same frames and error whatever the read boundaries;
/// - decoding with an intern table gives the same frames as without;
/// - the link's read path (plain DATA frames as views with `nextData`, the rest with `next`) gives the same frames and
///   error as `next` alone;
/// - every decoded frame encodes to bytes that decode to an equal frame, and encoding that again gives the same bytes.
///
/// Flags: bit 0 = a 256-byte frame limit instead of the default 4 MiB; bit 1 = decode with an intern table of node ids.
enum MeshFrameTarget {
    enum Step: Equatable {
        case frame(MeshFrame)
        case failed(MeshWireError)
    }

    struct Transcript: Equatable {
        var steps: [Step] = []
        var buffered = 0
    }

    static let intern = InternTable(["a", "b", "node-1", ""])

    static func run(_ input: FuzzInput) {
        let limit = input.flag(0) ? 256 : MeshProtocol.defaultMaxFrameBytes
        let transcript = expectSameForEveryFeed(input) { drive($0, maxFrameBytes: limit, intern: input.flag(1) ? intern : nil) }
        if input.flag(1) {
            let plain = drive([input.payload], maxFrameBytes: limit, intern: nil)
            check(plain == transcript, "the intern table changed what was decoded")
        }
        let table = input.flag(1) ? intern : nil
        let viaViews = expectSameForEveryFeed(input) { drive($0, maxFrameBytes: limit, intern: table, views: true) }
        check(viaViews == transcript, "reading DATA frames as views changed what was decoded")
        for step in transcript.steps {
            if case .frame(let frame) = step { checkRoundTrip(frame) }
        }
    }

    /// A link's read path: append, then take frames until more bytes are needed or the stream is bad. `views`: as
    /// `MeshNode.read` does, plain DATA frames with `nextData` (copied out at once), the rest with `next`.
    static func drive(_ chunks: [[UInt8]], maxFrameBytes: Int, intern: InternTable?, views: Bool = false) -> Transcript {
        var decoder = MeshFrameDecoder(maxFrameBytes: maxFrameBytes, intern: intern)
        var transcript = Transcript()
        for chunk in chunks {
            decoder.append(chunk)
            while true {
                do throws(MeshWireError) {
                    if views, let view = try decoder.nextData() {
                        transcript.steps.append(.frame(.data(view.owned(interned: intern))))
                        continue
                    }
                    guard let frame = try decoder.next() else { break }
                    transcript.steps.append(.frame(frame))
                } catch {
                    transcript.steps.append(.failed(error))
                    do throws(MeshWireError) {
                        _ = try decoder.next()
                        fuzzFailure("decoder recovered after \(error)")
                    } catch let again {
                        check(again == error, "failed decoder threw \(error), then \(again)")
                    }
                    return transcript
                }
            }
        }
        transcript.buffered = decoder.bufferedCount
        return transcript
    }

    static func checkRoundTrip(_ frame: MeshFrame) {
        // The encoder cuts REJECT reasons to 1 KiB (they are diagnostics): longer ones can't come back unchanged.
        if case .reject(let reason) = frame, reason.utf8.count > 1024 { return }
        let encoded = frame.encoded()
        var decoder = MeshFrameDecoder()
        decoder.append(encoded)
        do throws(MeshWireError) {
            let again = try decoder.next()
            check(again == frame, "round trip changed the frame:\n  \(frame)\n  \(String(describing: again))")
            check(decoder.bufferedCount == 0, "an encoded frame left bytes behind")
            check(again?.encoded() == encoded, "encoding is not stable for \(frame)")
        } catch {
            fuzzFailure("encoded \(frame) does not decode: \(error)")
        }
    }
}
