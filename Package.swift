// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// The mesh link and the event loop touch class properties for every frame; in release builds their runtime
/// exclusivity checks cost ~9 % of a saturated link (perf). Debug builds, and so every test run, keep the checks.
let hotPathSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "SignalRMesh",
    products: [
        // The library apps build on: hubs, the HTTP/WebSocket/SignalR server and the mesh backplane.
        .library(name: "SignalRMesh", targets: ["SignalRMesh"]),
        .executable(name: "Server", targets: ["Server"]),
        .executable(name: "Bench", targets: ["Bench"]),
    ],
    targets: [
        // Kernel APIs that Glibc's module map does not export (epoll, eventfd, accept4).
        .target(name: "CSystem", path: "Sources/CSystem", cSettings: [.define("_GNU_SOURCE")]),
        // Event loop, sockets, buffers, timers, logging and hashing: shared by the mesh and the server.
        .target(name: "NetKit", dependencies: ["CSystem"], path: "Sources/NetKit", swiftSettings: hotPathSettings),
        // The backplane. Knows nothing of HTTP or SignalR: it carries opaque payloads between replicas.
        .target(name: "Mesh", dependencies: ["NetKit"], path: "Sources/Mesh", swiftSettings: hotPathSettings),
        // HTTP/1.1, WebSocket, SignalR, hubs and the web client.
        .target(
            name: "SignalRMesh", dependencies: ["NetKit", "Mesh"], path: "Sources/Server/SignalRMesh",
            resources: [.copy("Public")], swiftSettings: swiftSettings),
        // `main`: command line, config, signals.
        .executableTarget(name: "Server", dependencies: ["SignalRMesh", "Mesh", "NetKit"], path: "Sources/Server/Main", swiftSettings: swiftSettings),
        // Load client and link benchmark (not a test).
        .executableTarget(name: "Bench", dependencies: ["SignalRMesh", "Mesh", "NetKit", "CSystem"], path: "Sources/Bench", swiftSettings: swiftSettings),
        .testTarget(name: "NetKitTests", dependencies: ["NetKit"], path: "Tests/NetKitTests"),
        .testTarget(name: "MeshTests", dependencies: ["Mesh", "NetKit"], path: "Tests/MeshTests"),
        .testTarget(name: "ServerTests", dependencies: ["SignalRMesh", "Mesh", "NetKit"], path: "Tests/ServerTests"),
    ]
)

// libFuzzer targets (Tests/fuzz/README.md). Declared only when SIGNALR_FUZZ is set, as Tests/fuzz/run.sh does:
// the harness needs `--sanitize=fuzzer` (libFuzzer supplies `main`) and `-enable-testing` (it reaches the parsers
// with `@testable import`), so the normal builds neither compile nor link it.
if Context.environment["SIGNALR_FUZZ"] != nil {
    package.products.append(.executable(name: "Fuzz", targets: ["Fuzz"]))
    package.targets.append(
        .executableTarget(
            name: "Fuzz", dependencies: ["SignalRMesh", "Mesh", "NetKit"], path: "Sources/Fuzz",
            swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]))
}
