import Foundation
import Glibc
import NetKit

/// `Bench crypto`: throughput of the record cipher (``ChaCha20Poly1305``'s in-place forms, as the mesh link uses
/// them) next to `openssl speed -aead -evp chacha20-poly1305` run in the same minute on the same sizes.
///
/// Times are this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), as `openssl speed` divides by CPU time too, so a
/// busy host skews both sides alike. `open` needs a valid record every time (it decrypts in place), so each round
/// restores the sealed bytes with `memcpy` and the time of a `memcpy`-only loop is subtracted.
enum CryptoBench {
    static let usage = """
        Bench crypto [--seconds 1] [--sizes 100,65536] [--aad 16] [--openssl yes|no]
            Seal and open throughput of ChaCha20-Poly1305 (in place, as the mesh record layer calls it) in MB/s
            and ns per record for each size, and the same for `openssl speed -aead -evp chacha20-poly1305`
            (if openssl is on PATH) with the ratio. Also the two halves alone: ChaCha20 XOR and Poly1305.
        """

    static func run(_ args: [String]) throws(UsageError) {
        let flags = try Flags(command: "crypto", args, valued: ["seconds", "sizes", "aad", "openssl"])
        let seconds = try flags.double("seconds", default: 1, min: 0.05)
        guard seconds <= 60 else { throw UsageError("crypto: --seconds ≤ 60") }
        let aadCount = try flags.int("aad", default: 16, min: 0, max: 1024)
        var sizes = [Int]()
        for part in flags.string("sizes", default: "100,65536").split(separator: ",") {
            guard let size = Int(part), size >= 0, size <= 1 << 24 else {
                throw UsageError("crypto: --sizes takes record sizes 0…16777216 separated by commas, got '\(part)'")
            }
            sizes.append(size)
        }
        guard !sizes.isEmpty else { throw UsageError("crypto: --sizes is empty") }
        let useOpenSSL = flags.string("openssl", default: "yes")
        guard ["yes", "no"].contains(useOpenSSL) else { throw UsageError("crypto: --openssl yes|no") }

        // The timed code is the release build's; check it computes the right thing first.
        if let problem = selfCheck() { Out.fail("crypto: self-check failed: \(problem)") }
        Out.progress("load average: \(SystemInfo.loadAverage())")
        let key = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        let aead = ChaCha20Poly1305(key: key)
        let aad = [UInt8](repeating: 0xa5, count: aadCount)
        Out.line("size_B  op      MB/s     ns/record  openssl_MB/s  ours/openssl")
        for size in sizes {
            let seal = measureSeal(aead, aad: aad, size: size, seconds: seconds)
            let open = measureOpen(aead, aad: aad, size: size, seconds: seconds)
            let reference = useOpenSSL == "yes" ? openSSL(size: size, seconds: seconds) : nil
            for (name, ours, theirs) in [("seal", seal, reference?.seal), ("open", open, reference?.open)] {
                let mbps = Double(size) / ours / 1e6 * 1e9
                var line = pad(String(size), 8) + pad(name, 6) + pad(format(mbps, 1), 10) + pad(format(ours, 1), 12)
                if let theirs {
                    line += pad(format(theirs / 1e6, 1), 14) + format(mbps / (theirs / 1e6), 3)
                } else {
                    line += pad("-", 14) + "-"
                }
                Out.line(line)
            }
        }
        // The halves, on the largest size: where the time goes.
        let size = sizes.max()!
        let cipher = ChaCha20(key: key)
        var buffer = [UInt8](repeating: 0x5a, count: size)
        let nonce = ChaCha20Poly1305.nonce(counter: 1)
        let xorNanos = perCall(seconds: seconds) { buffer.withUnsafeMutableBytes { cipher.xor(counter: 1, nonce: nonce, $0) } }
        let macNanos = perCall(seconds: seconds) {
            var mac = Poly1305(key: key)
            buffer.withUnsafeBytes { mac.update($0) }
            blackHole(mac.finalize())
        }
        Out.line("parts (\(size) B): chacha20 xor \(format(Double(size) / xorNanos * 1e3, 1)) MB/s, "
            + "poly1305 \(format(Double(size) / macNanos * 1e3, 1)) MB/s")
        Out.progress("load average: \(SystemInfo.loadAverage())")
    }

    // MARK: - Self-check

    /// RFC 8439 §2.8.2, and a 65 600-byte record whose SHA-256 (sealed) was computed with pyca/cryptography: the
    /// same checks as the unit tests, but on this optimized build. Nil when all pass.
    private static func selfCheck() -> String? {
        func hex(_ text: String) -> [UInt8] {
            let digits = text.compactMap { $0.hexDigitValue }.map { UInt8($0) }
            return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
        }
        let sunscreen = Array(
            "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
                .utf8)
        let rfc = ChaCha20Poly1305(key: [UInt8](0x80...0x9f))
        let nonce = hex("070000004041424344454647")
        let aad = hex("50515253c0c1c2c3c4c5c6c7")
        let sealed = rfc.seal(nonce: nonce, plaintext: sunscreen, aad: aad)
        let expected = hex(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
                + "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                + "3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691")
        guard sealed == expected else { return "RFC 8439 §2.8.2 seal" }
        guard rfc.open(nonce: nonce, sealed: sealed, aad: aad) == sunscreen else { return "RFC 8439 §2.8.2 open" }

        let large = ChaCha20Poly1305(key: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) })
        let plaintext = (0..<65_600).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var text = plaintext
        var tag = [UInt8](repeating: 0, count: 16)
        let header = Array("record header".utf8)
        text.withUnsafeMutableBytes { text in
            tag.withUnsafeMutableBytes { tag in header.withUnsafeBytes { large.seal(counter: 0x1_0000_0002, aad: $0, text: text, tag: tag) } }
        }
        guard SHA256.hash(text + tag) == hex("789b426e59014706a21ea0cef88f61b3520c58a8a9010a84c107b4dffe02456a") else {
            return "65 600-byte record seal"
        }
        let opened = text.withUnsafeMutableBytes { text in
            tag.withUnsafeBytes { tag in header.withUnsafeBytes { large.open(counter: 0x1_0000_0002, aad: $0, text: text, tag: tag) } }
        }
        guard opened, text == plaintext else { return "65 600-byte record open" }
        return nil
    }

    // MARK: - Ours

    /// Nanoseconds of thread CPU time per in-place seal of a `size`-byte record.
    private static func measureSeal(_ aead: ChaCha20Poly1305, aad: [UInt8], size: Int, seconds: Double) -> Double {
        var text = [UInt8](repeating: 0x3c, count: size)
        var tag = [UInt8](repeating: 0, count: 16)
        var counter: UInt64 = 0
        return text.withUnsafeMutableBytes { text in
            tag.withUnsafeMutableBytes { tag in
                aad.withUnsafeBytes { aad in
                    perCall(seconds: seconds) {
                        counter &+= 1
                        aead.seal(counter: counter, aad: aad, text: text, tag: tag)
                    }
                }
            }
        }
    }

    /// Nanoseconds per successful in-place open, less the `memcpy` that puts the sealed record back each round.
    private static func measureOpen(_ aead: ChaCha20Poly1305, aad: [UInt8], size: Int, seconds: Double) -> Double {
        var sealed = [UInt8](repeating: 0x3c, count: size)
        var tag = [UInt8](repeating: 0, count: 16)
        sealed.withUnsafeMutableBytes { text in
            tag.withUnsafeMutableBytes { tag in aad.withUnsafeBytes { aead.seal(counter: 7, aad: $0, text: text, tag: tag) } }
        }
        var work = sealed
        var failures = 0
        let withCopy = work.withUnsafeMutableBytes { work in
            sealed.withUnsafeBytes { sealed in
                tag.withUnsafeBytes { tag in
                    aad.withUnsafeBytes { aad in
                        perCall(seconds: seconds) {
                            if size > 0 { memcpy(work.baseAddress!, sealed.baseAddress!, size) }
                            if !aead.open(counter: 7, aad: aad, text: work, tag: tag) { failures += 1 }
                        }
                    }
                }
            }
        }
        if failures > 0 { Out.fail("crypto: \(failures) opens failed") }
        let copyOnly = work.withUnsafeMutableBytes { work in
            sealed.withUnsafeBytes { sealed in
                perCall(seconds: seconds / 4) {
                    if size > 0 { memcpy(work.baseAddress!, sealed.baseAddress!, size) }
                    blackHole(work.baseAddress)
                }
            }
        }
        return max(withCopy - copyOnly, 1)
    }

    /// Runs `body` in batches until `seconds` of thread CPU time have passed; nanoseconds per call.
    private static func perCall(seconds: Double, _ body: () -> Void) -> Double {
        // Warm up, and size the batches so that the clock is read about every millisecond.
        var batch = 1
        while true {
            let start = threadCPUNanos()
            for _ in 0..<batch { body() }
            if threadCPUNanos() - start >= 1_000_000 || batch >= 1 << 24 { break }
            batch *= 2
        }
        let budget = UInt64(seconds * 1e9)
        var calls = 0
        let start = threadCPUNanos()
        var elapsed: UInt64 = 0
        repeat {
            for _ in 0..<batch { body() }
            calls += batch
            elapsed = threadCPUNanos() - start
        } while elapsed < budget
        return Double(elapsed) / Double(calls)
    }

    private static func threadCPUNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    @inline(never)
    private static func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

    // MARK: - OpenSSL

    /// Bytes per second of `openssl speed -aead -evp chacha20-poly1305` (encrypt, then `-decrypt`) on `size`-byte
    /// records; nil when openssl is missing or says something else.
    private static func openSSL(size: Int, seconds: Double) -> (seal: Double, open: Double)? {
        let whole = max(1, Int(seconds.rounded()))
        guard let seal = openSSLRate(["-aead", "-evp", "chacha20-poly1305", "-bytes", "\(size)", "-seconds", "\(whole)", "-mr"], seconds: whole),
            let open = openSSLRate(
                ["-aead", "-decrypt", "-evp", "chacha20-poly1305", "-bytes", "\(size)", "-seconds", "\(whole)", "-mr"],
                seconds: whole)
        else { return nil }
        return (seal, open)
    }

    private static func openSSLRate(_ arguments: [String], seconds: Int) -> Double? {
        let paths = ["/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"]
        guard let path = paths.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Out.progress("openssl not found; no reference figures")
            return nil
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["speed"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do { try process.run() } catch {
            Out.progress("cannot run openssl: \(error)")
            return nil
        }
        // Its machine-readable output is a few hundred bytes, far below a pipe's buffer: wait first, then read.
        if done.wait(timeout: .now() + .seconds(seconds + 30)) == .timedOut {
            process.terminate()
            Out.progress("openssl speed did not finish in time")
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        // Machine-readable result line: "+F:<n>:<cipher>:<bytes per second>".
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("+F:") {
            if let rate = line.split(separator: ":").last.flatMap({ Double($0) }) { return rate }
        }
        Out.progress("unexpected output from openssl speed")
        return nil
    }

    // MARK: - Formatting

    private static func format(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
