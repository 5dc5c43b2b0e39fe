import Foundation
import NNGen
import XCTest

/// Fine-tuning through the library: a DSL model with a frozen layer starts from a checkpoint's
/// parameters (`loadParameters`), trains, and leaves the frozen layer as it was.
final class FineTuningLibraryTests: XCTestCase {
    func testLoadParametersThenFitKeepsFrozenLayers() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let iris = Model("iris", input: .features(4), batch: 16, loss: .softmaxCrossEntropy,
                         optimizer: .adam(lr: 0.01), standardize: true) { Dense(16); ReLU(); Dense(3) }
        let head = Model("iris", input: .features(4), batch: 16, loss: .softmaxCrossEntropy,
                         optimizer: .adam(lr: 0.01), standardize: true) { Dense(16).frozen(); ReLU(); Dense(3) }
        XCTAssertEqual(head.trainable, ["layers[0]": .frozen])
        let data = try ModelDataset(csv: root.appendingPathComponent("examples/data/iris.csv").path, for: iris)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-ft-lib-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pretrained = try ModelTrainer(iris)
        try pretrained.fit(data, epochs: 2)
        let ckpt = dir.appendingPathComponent("iris.safetensors").path
        try pretrained.save(ckpt)

        let tuned = try ModelTrainer(head)
        XCTAssertEqual(try tuned.loadParameters(from: ckpt),
                       ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"])
        XCTAssertEqual(tuned.parameters, pretrained.parameters)
        try tuned.fit(data, epochs: 2)
        let frozenCount = 16 * 4 + 16
        XCTAssertEqual(Array(tuned.parameters[0..<frozenCount]), Array(pretrained.parameters[0..<frozenCount]))
        XCTAssertNotEqual(Array(tuned.parameters[frozenCount...]), Array(pretrained.parameters[frozenCount...]))
        XCTAssertThrowsError(try tuned.loadParameters(from: root.appendingPathComponent("examples/iris.json").path))
    }
}
