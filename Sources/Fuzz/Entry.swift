// The libFuzzer entry point. One binary holds every target; `FUZZ_TARGET=<name>` picks one (Tests/fuzz/run.sh sets
// it). Build with `swift build --sanitize=fuzzer` only: libFuzzer supplies `main`.

#if canImport(Glibc)
    import Glibc
#endif

/// The fuzz targets by name, in the order `run.sh` runs them.
let fuzzTargets: [(name: String, run: @Sendable (FuzzInput) -> Void)] = [
    ("http", HTTPTarget.run),
    ("websocket", WebSocketTarget.run),
    ("hub", HubTarget.run),
    ("msgpack", MessagePackTarget.run),
    ("json", JSONTarget.run),
    ("meshframe", MeshFrameTarget.run),
    ("meshhandshake", MeshHandshakeTarget.run),
    ("meshrecord", MeshRecordTarget.run),
    ("peers", PeersTarget.run),
    ("jwt", JWTTarget.run),
    ("cluster", ClusterTarget.run),
    ("longpoll", LongPollTarget.run),
    ("sse", SSETarget.run),
]

/// The target chosen by `FUZZ_TARGET`, looked up once.
let selectedTarget: @Sendable (FuzzInput) -> Void = {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = fuzzTargets.first(where: { $0.name == name }) else {
        print("set FUZZ_TARGET to one of: \(fuzzTargets.map(\.name).joined(separator: " ")) (got \"\(name)\")")
        exit(2)
    }
    return target.run
}()

/// Checks `FUZZ_TARGET` before the first input, so a typo stops the run at once.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>
) -> CInt {
    _ = selectedTarget
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let input = FuzzInput(data, size) else { return 0 }
    selectedTarget(input)
    return 0
}
