@testable import Mesh

/// `meshrecord`: the encrypted link's record decoder (`RecordDecoder`), fed two ways.
///
/// - flag 0 clear: the payload is raw bytes off the wire (an attacker's), fed whole, in two pieces and in small
///   pieces. Nothing may open (the fuzzer can't forge a Poly1305 tag), every feed ends the same way, and the decoder
///   never buffers more than one record's worth past what it was given.
/// - flag 0 set: the payload is cut into plaintexts (`[u8 length][bytes]`…), sealed by a `RecordSealer` with
///   rekeying every 3 records, and the sealed stream decoded: every plaintext must come back unchanged, in order.
///   With flag 1 also set, one byte of the sealed stream (at `cut`) is flipped first: what opens must then be an
///   unchanged prefix of the plaintexts, and the decoder must report an error or wait for more bytes, never deliver
///   altered bytes.
enum MeshRecordTarget {
    static let key = [UInt8](repeating: 0x42, count: 32)
    static let rekey = RekeyPolicy(afterRecords: 3, afterBytes: 1 << 20)

    /// What a feed produced: the plaintexts opened, then how it ended.
    struct Transcript: Equatable {
        var opened: [[UInt8]] = []
        var error: RecordError?
    }

    static func run(_ input: FuzzInput) {
        if input.flag(0) {
            sealed(input)
        } else {
            let transcript = expectSameForEveryFeed(input) { decode($0) }
            check(transcript.opened.isEmpty, "forged record opened: \(transcript.opened.first ?? [])")
        }
    }

    static func decode(_ chunks: [[UInt8]]) -> Transcript {
        var decoder = RecordDecoder(key: key, rekey: rekey)
        var transcript = Transcript()
        for chunk in chunks {
            decoder.append(chunk)
            do {
                while let plaintext = try decoder.next() { transcript.opened.append(plaintext) }
            } catch {
                transcript.error = error
                return transcript
            }
            check(
                decoder.bufferedCount <= RecordProtocol.maxRecordBytes + RecordProtocol.overheadCount + chunk.count,
                "decoder holds \(decoder.bufferedCount) bytes")
        }
        return transcript
    }

    static func sealed(_ input: FuzzInput) {
        var plaintexts: [[UInt8]] = []
        var bytes = input.payload[...]
        while let length = bytes.popFirst() {
            let piece = Array(bytes.prefix(Int(length) + 1))  // records are never empty
            bytes = bytes.dropFirst(piece.count)
            if !piece.isEmpty { plaintexts.append(piece) }
        }
        var sealer = RecordSealer(key: key, rekey: rekey)
        var stream: [UInt8] = []
        for plaintext in plaintexts {
            do {
                try sealer.seal(plaintext, into: &stream)
            } catch {
                fuzzFailure("sealing \(plaintext.count) bytes failed: \(error)")
            }
        }
        let tampered = input.flag(1) && !stream.isEmpty
        if tampered { stream[input.cut % stream.count] ^= 0x01 | (input.flags & 0xF0) }
        // The same stream in the three feeds, all alike.
        let reshaped = FuzzInput(reshaping: input, payload: stream)
        let transcript = expectSameForEveryFeed(reshaped) { decode($0) }
        if tampered {
            check(transcript.opened.count < plaintexts.count, "a flipped byte went unnoticed")
            check(
                Array(plaintexts.prefix(transcript.opened.count)) == transcript.opened,
                "a tampered stream opened altered plaintext")
        } else {
            check(transcript.error == nil, "an untouched stream failed: \(String(describing: transcript.error))")
            check(transcript.opened == plaintexts, "round trip changed the plaintexts")
        }
    }
}
