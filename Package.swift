// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "nngen",
    platforms: [.macOS(.v13)],
    products: [
        // The `nngen` binary, built from the target NNGenCLI (not `nngen`: module and folder
        // names that differ from the library's `NNGen` only by case collide on macOS's file system).
        .executable(name: "nngen", targets: ["NNGenCLI"]),
        .library(name: "ModelSpec", targets: ["ModelSpec"]),
        .library(name: "Reference", targets: ["Reference"]),
        .library(name: "CodeGen", targets: ["CodeGen"]),
        .library(name: "JIT", targets: ["JIT"]),
        // nngen as a library: `import NNGen` (the DSL, training, gradient checks, C emission).
        .library(name: "NNGen", targets: ["NNGen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Model types, the result-builder DSL, JSON, shape inference, validation, the RNG.
        .target(name: "ModelSpec"),
        // The Swift reference interpreter (Double). Shares nothing with CodeGen but ModelSpec.
        // Optimised even in debug builds: the test suite runs it on the benchmark models.
        .target(name: "Reference", dependencies: ["ModelSpec"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // safetensors and CSV files, data sets (shuffle, split, standardisation).
        .target(name: "DataIO", dependencies: ["ModelSpec"]),
        // Turns templates/*.c|h into Swift string constants at build time.
        .executableTarget(name: "EmbedTemplates"),
        .plugin(name: "EmbedTemplatesPlugin", capability: .buildTool(), dependencies: ["EmbedTemplates"]),
        // ModelSpec -> IR -> autodiff -> fusion -> memory plan -> C text.
        .target(name: "CodeGen", dependencies: ["ModelSpec"], plugins: ["EmbedTemplatesPlugin"]),
        // libtcc, as Debian's libtcc-dev installs it.
        .systemLibrary(name: "CTCC", path: "Sources/CTCC"),
        // nngen's precompiled helpers that libtcc-compiled models link against (generated C, -O3).
        .target(name: "NNKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        // In-process compilation (libtcc) and cc + dlopen, behind one protocol.
        .target(name: "JIT", dependencies: ["CTCC", "CodeGen", "ModelSpec", "NNKernels"],
                linkerSettings: [.linkedLibrary("dl")]),
        // What the commands do (gradient checks, training, benchmarks), as a library the tests call.
        .target(name: "NNGenKit", dependencies: ["ModelSpec", "Reference", "DataIO", "CodeGen", "JIT"]),
        // The library product: re-exports the above and adds a small API (ModelTrainer, ModelDataset, emitC).
        .target(name: "NNGen", dependencies: ["ModelSpec", "DataIO", "CodeGen", "JIT", "NNGenKit"]),
        // The command-line tool `nngen`: argument parsing and printing only.
        .executableTarget(name: "NNGenCLI", dependencies: [
            "ModelSpec", "Reference", "DataIO", "CodeGen", "JIT", "NNGenKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "ModelSpecTests", dependencies: ["ModelSpec"]),
        .testTarget(name: "ReferenceTests", dependencies: ["Reference", "ModelSpec"]),
        .testTarget(name: "DataIOTests", dependencies: ["DataIO", "ModelSpec"]),
        .testTarget(name: "CodeGenTests", dependencies: ["CodeGen", "ModelSpec"],
                    resources: [.copy("Golden")]),
        .testTarget(name: "JITTests", dependencies: ["JIT", "CodeGen", "Reference", "ModelSpec"]),
        .testTarget(name: "NNGenKitTests", dependencies: ["NNGenKit", "JIT", "CodeGen", "Reference", "DataIO", "ModelSpec"]),
        .testTarget(name: "nngenTests", dependencies: ["NNGenCLI"]),
        // The modules NNGen re-exports (`@_exported import`) are listed too: the tests compile
        // their value types' layouts in (Dataset, TCCBackend...), and SwiftPM rebuilds a target
        // only when a swiftmodule it depends on directly changes. With "NNGen" alone, a new stored
        // property in DataIO's Dataset left these tests compiled against the old, smaller layout:
        // the Dataset temporary overlapped the TCCBackend one, and the heap was corrupted.
        .testTarget(name: "NNGenLibraryTests", dependencies: ["NNGen", "CodeGen", "DataIO", "JIT", "ModelSpec", "NNGenKit"]),
    ]
)
