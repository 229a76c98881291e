// swift-tools-version:6.0
import PackageDescription

// An app built on the SignalRMesh library, outside its sources: it defines its own hub and serves it from every
// replica of a mesh. It depends on the library by path, as an app in the same repository would.
let package = Package(
    name: "GreeterApp",
    dependencies: [
        .package(name: "SignalRMesh", path: "../..")
    ],
    targets: [
        .target(name: "GreeterHub", dependencies: [.product(name: "SignalRMesh", package: "SignalRMesh")]),
        .executableTarget(name: "Greeter", dependencies: ["GreeterHub", .product(name: "SignalRMesh", package: "SignalRMesh")]),
        .testTarget(name: "GreeterHubTests", dependencies: ["GreeterHub", .product(name: "SignalRMesh", package: "SignalRMesh")]),
    ]
)
