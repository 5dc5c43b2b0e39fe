import Foundation
import ModelSpec
import XCTest

/// The model files of the scaling benchmark (`bench/scaling.sh`, examples/bench/scaling/): what
/// the script's generator writes, that they are valid, and their sizes by docs/BENCHMARKS.md's
/// count (the numbers docs/PERFORMANCE.md's scaling table prints).
final class ScalingBenchmarkFilesTests: XCTestCase {
    static let directory = repositoryRoot.appendingPathComponent("examples/bench/scaling")

    /// Width -> (parameters, step FLOPs): 784*W+W + W*W+W + 10*W+10, and 3 * 2*128*(784*W + W*W + 10*W).
    static let expected: [(width: Int, parameters: Int, stepFLOPs: Int)] = [
        (128, 118_282, 90_636_288),
        (256, 269_322, 206_438_400),
        (512, 669_706, 513_540_096),
        (1024, 1_863_690, 1_429_733_376),
        (2048, 5_824_522, 4_470_079_488),
        (4096, 20_037_642, 15_382_609_920),
    ]

    func testTheFilesAreValidModelsOfTheStatedSizes() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).sorted()
        XCTAssertEqual(names, Self.expected.map { "mlp_\($0.width).json" }.sorted())
        for (width, parameters, stepFLOPs) in Self.expected {
            let model = try Model.load(from: Self.directory.appendingPathComponent("mlp_\(width).json"))
            let written = Model("scaling_mlp_\(width)", input: .features(784), batch: 128, loss: .softmaxCrossEntropy,
                                optimizer: .sgd(lr: 0.01)) {
                Dense(width); ReLU(); Dense(width); ReLU(); Dense(10)
            }
            XCTAssertEqual(model, written, "mlp_\(width).json")
            XCTAssertEqual(try model.validate(), [], "mlp_\(width).json")
            let analysis = try model.analyze()
            XCTAssertEqual(analysis.parameterCount, parameters, "mlp_\(width).json")
            XCTAssertEqual(analysis.trainingStepFLOPs, stepFLOPs, "mlp_\(width).json")
            XCTAssertEqual(analysis.layers.last?.output, .vector(10), "mlp_\(width).json")
        }
        // Width 512 is W2 of docs/BENCHMARKS.md (513.5 MFLOP a step), under another name.
        XCTAssertEqual(try Model.load(from: repositoryRoot.appendingPathComponent("examples/bench/w2_mnist_mlp.json"))
                        .analyze().trainingStepFLOPs, 513_540_096)
    }

    func testTheScriptWritesTheCommittedFiles() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("scaling-models-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec bash \"$0\" --models \"$1\"",
                       repositoryRoot.appendingPathComponent("bench/scaling.sh").path, out.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        for (width, _, _) in Self.expected {
            let name = "mlp_\(width).json"
            XCTAssertEqual(try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8),
                           try String(contentsOf: Self.directory.appendingPathComponent(name), encoding: .utf8), name)
        }
    }

    func testTheScriptRejectsAWidthThatIsNotANumber() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "WIDTHS='128 12x' exec bash \"$0\" --models /nonexistent/never-written 2>/dev/null",
                       repositoryRoot.appendingPathComponent("bench/scaling.sh").path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 2)
    }
}
