// swift-tools-version:6.0
// Uses nngen as a library: one dependency line and one `import NNGen`.
import PackageDescription

let package = Package(
    name: "SwiftPackageUsage",
    platforms: [.macOS(.v13)],
    dependencies: [
        // In another package: .package(url: "<nngen's git URL>", branch: "main")
        .package(name: "nngen", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "IrisExample", dependencies: [.product(name: "NNGen", package: "nngen")]),
    ]
)
