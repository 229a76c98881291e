import NetKit
import Testing

@testable import Mesh

private let key = (0..<32).map { UInt8($0 &* 7 &+ 1) }

/// Seals each plaintext as one `seal` call (one or more records) and returns the concatenated stream.
private func sealStream(_ plaintexts: [[UInt8]], key: [UInt8] = key, rekey: RekeyPolicy = .init()) throws -> [UInt8] {
    var sealer = RecordSealer(key: key, rekey: rekey)
    var stream = [UInt8]()
    for plaintext in plaintexts { try sealer.seal(plaintext, into: &stream) }
    return stream
}

/// Feeds `chunks` in order and collects every record's plaintext (throws on the first bad record).
private func openAll(_ chunks: [ArraySlice<UInt8>], key: [UInt8] = key, rekey: RekeyPolicy = .init()) throws -> [UInt8] {
    var decoder = RecordDecoder(key: key, rekey: rekey)
    var plaintext = [UInt8]()
    for chunk in chunks {
        chunk.withUnsafeBytes { decoder.append($0) }
        while let record = try decoder.next() { plaintext += record }
    }
    #expect(decoder.bufferedCount == 0)
    return plaintext
}

private func bytes(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed } }

@Suite struct RecordTests {
    @Test func layoutIsLengthCiphertextTag() throws {
        let plaintext = Array("hello, mesh".utf8)
        let stream = try sealStream([plaintext])
        #expect(stream.count == 4 + plaintext.count + 16)
        #expect(Array(stream[0..<4]) == [0, 0, 0, UInt8(plaintext.count)])
        #expect(Array(stream[4..<(4 + plaintext.count)]) != plaintext)
        // The first record is ChaCha20-Poly1305 with nonce = counter 0 and the header as AAD.
        let aead = ChaCha20Poly1305(key: key)
        let opened = aead.open(nonce: ChaCha20Poly1305.nonce(counter: 0), sealed: Array(stream[4...]), aad: Array(stream[0..<4]))
        #expect(opened == plaintext)
    }

    @Test func bigWritesAreCutIntoRecordsOf64KiB() throws {
        let max = RecordProtocol.maxRecordBytes
        let sizes = [1, max - 1, max, max + 1, 3 * max + 17]
        let plaintexts = sizes.enumerated().map { bytes($0.element, seed: UInt8($0.offset)) }
        var sealer = RecordSealer(key: key)
        var stream = [UInt8]()
        for plaintext in plaintexts { try sealer.seal(plaintext, into: &stream) }
        #expect(sealer.recordsSealed == 1 + 1 + 1 + 2 + 4)
        #expect(stream.count == sizes.map { RecordSealer.sealedCount(plaintextCount: $0) }.reduce(0, +))
        #expect(try openAll([stream[...]]) == plaintexts.flatMap { $0 })
    }

    /// A stream of several records split into two chunks at every byte position, and fed one byte at a time.
    @Test func decoderSplitAtEveryPosition() throws {
        let plaintexts = [bytes(1, seed: 1), bytes(50, seed: 2), bytes(300, seed: 3), bytes(1000, seed: 4)]
        let expected = plaintexts.flatMap { $0 }
        let stream = try sealStream(plaintexts)
        #expect(try openAll([stream[...]]) == expected)
        for split in 0...stream.count {
            #expect(try openAll([stream[..<split], stream[split...]]) == expected, "split at \(split)")
        }
        #expect(try openAll(stream.indices.map { stream[$0...$0] }) == expected)
    }

    /// Any single byte changed (length header, ciphertext or tag of any record) is an error, and no plaintext of the
    /// tampered record or after it comes out. A 64 KiB record follows, so a length made longer still runs into
    /// bytes and fails rather than waiting.
    @Test func tamperingAnySingleByteFails() throws {
        let plaintexts = [bytes(10, seed: 5), bytes(100, seed: 6), bytes(7, seed: 7)]
        let tested = try sealStream(plaintexts)
        let stream = try sealStream(plaintexts + [bytes(RecordProtocol.maxRecordBytes, seed: 8)])
        // Record boundaries of the tested part, to know which plaintext may come out before the error.
        var ends = [Int]()
        var offset = 0
        for plaintext in plaintexts {
            offset += RecordSealer.sealedCount(plaintextCount: plaintext.count)
            ends.append(offset)
        }
        #expect(ends.last == tested.count)
        for position in 0..<tested.count {
            for bit in [0, 7] {
                var tampered = stream
                tampered[position] ^= UInt8(1 << bit)
                var decoder = RecordDecoder(key: key)
                tampered.withUnsafeBytes { decoder.append($0) }
                var out = [UInt8]()
                var failed = false
                do {
                    while let record = try decoder.next() { out += record }
                } catch {
                    failed = true
                }
                #expect(failed, "byte \(position) bit \(bit) went unnoticed")
                let record = ends.firstIndex { position < $0 }!
                #expect(out == plaintexts[..<record].flatMap { $0 }, "byte \(position): plaintext leaked past the tampered record")
            }
        }
    }

    /// The counter is implicit: a record dropped, replayed or moved fails.
    @Test func droppedReplayedOrReorderedRecordsFail() throws {
        var sealer = RecordSealer(key: key)
        var records = [[UInt8]]()
        for i in 0..<3 {
            var record = [UInt8]()
            try sealer.seal(bytes(20, seed: UInt8(i)), into: &record)
            records.append(record)
        }
        #expect(throws: RecordError.authenticationFailed(record: 1)) { try openAll([records[0][...], records[2][...]]) }
        #expect(throws: RecordError.authenticationFailed(record: 1)) { try openAll([records[0][...], records[0][...]]) }
        #expect(throws: RecordError.authenticationFailed(record: 0)) { try openAll([records[1][...], records[0][...]]) }
        // Another key (the other direction, another link): the very first record fails.
        #expect(throws: RecordError.authenticationFailed(record: 0)) {
            try openAll([records[0][...]], key: [UInt8](repeating: 9, count: 32))
        }
    }

    @Test func badLengthsFailBeforeBuffering() throws {
        var decoder = RecordDecoder(key: key)
        decoder.append([0, 1, 0, 1])
        #expect(throws: RecordError.recordTooLarge(length: 65537, limit: 65536)) { try decoder.next() }
        // Stays failed, whatever follows.
        decoder.append(try sealStream([[1]]))
        #expect(throws: RecordError.recordTooLarge(length: 65537, limit: 65536)) { try decoder.next() }

        var empty = RecordDecoder(key: key)
        empty.append([0, 0, 0, 0])
        #expect(throws: RecordError.emptyRecord) { try empty.next() }

        var partial = RecordDecoder(key: key)
        let one = try sealStream([bytes(100, seed: 1)])
        partial.append(Array(one[..<50]))
        #expect(try partial.next() == nil)
        #expect(partial.bufferedCount == 50)
    }

    /// Both ends move to the next key after the same record, without a word; a receiver that doesn't fails there.
    @Test func rekeyingInLockstep() throws {
        let policy = RekeyPolicy(afterRecords: 3)
        let plaintexts = (0..<10).map { bytes(40, seed: UInt8($0)) }
        var sealer = RecordSealer(key: key, rekey: policy)
        var stream = [UInt8]()
        for plaintext in plaintexts { try sealer.seal(plaintext, into: &stream) }
        #expect(sealer.rekeys == 3)
        var decoder = RecordDecoder(key: key, rekey: policy)
        decoder.append(stream)
        var out = [UInt8]()
        while let record = try decoder.next() { out += record }
        #expect(out == plaintexts.flatMap { $0 })
        #expect(decoder.rekeys == 3 && decoder.recordsOpened == 10)
        // The keys really change: without rekeying, record 3 does not open.
        #expect(throws: RecordError.authenticationFailed(record: 3)) { try openAll([stream[...]]) }

        // By bytes: 100-byte records, a new key every 250 bytes → after records 3, 6, 9 (1-based).
        let byBytes = RekeyPolicy(afterBytes: 250)
        let hundred = (0..<9).map { bytes(100, seed: UInt8($0)) }
        let sealedByBytes = try sealStream(hundred, rekey: byBytes)
        #expect(try openAll([sealedByBytes[...]], rekey: byBytes) == hundred.flatMap { $0 })
        #expect(throws: RecordError.authenticationFailed(record: 3)) { try openAll([sealedByBytes[...]]) }
    }

    @Test func sameKeyAndPlaintextNeverGiveTheSameRecordTwice() throws {
        var sealer = RecordSealer(key: key)
        var first = [UInt8]()
        var second = [UInt8]()
        try sealer.seal(bytes(64, seed: 1), into: &first)
        try sealer.seal(bytes(64, seed: 1), into: &second)
        #expect(first != second)
    }
}
