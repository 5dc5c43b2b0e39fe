import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Training from a memory-mapped data file (what `nngen convert` writes) against training from the
/// CSV it came from, and the divergence message for inputs far from unit scale.
final class MappedTrainingTests: XCTestCase {
    private func train(_ analysis: ModelAnalysis, _ data: Dataset, learningRate: Double? = nil) throws -> Trainer {
        let trainer = try Trainer(analysis: analysis, dataset: data,
                                  options: TrainingOptions(epochs: 2, learningRate: learningRate ?? analysis.model.optimizer.learningRate,
                                                           seed: 5),
                                  backend: TCCBackend())
        try trainer.run()
        return trainer
    }

    func testMappedTrainingEqualsCSVTrainingBitForBit() throws {
        var model = try trainingExampleModel("digits_mlp").model
        for standardize in [false, true] {
            model.standardize = standardize
            let analysis = try model.analyze()
            let csv = try trainingExampleData("digits", for: analysis)
            let url = try trainingTempDirectory(self).appendingPathComponent("digits.safetensors")
            try csv.writeBatchFile(to: url, xDType: .f32, metadata: ["source": "digits.csv"])  // pixels: exact in F32
            let mapped = try ModelData.load(url, for: analysis)
            XCTAssertTrue(mapped.store.isMapped)
            let a = try train(analysis, csv), b = try train(analysis, mapped)
            XCTAssertEqual(a.compiled.parameters.map(\.bitPattern), b.compiled.parameters.map(\.bitPattern),
                           "standardize \(standardize)")
            XCTAssertEqual(try a.checkpoint.safetensors().encoded(), try b.checkpoint.safetensors().encoded())
        }
    }

    func testDivergenceSuggestsStandardizingFarFromUnitInputs() throws {
        let far = TrainingError.diverged(epoch: 1, step: 15, steps: 375, loss: .nan, learningRate: 0.01,
                                         checkpoint: nil, checkpointEpoch: nil, inputScale: 255)
        XCTAssertEqual(far.description, "training diverged at epoch 1, step 15 of 375: the loss is NaN. No checkpoint was "
                       + "saved by this run. Try a learning rate 10x lower: --lr 0.001. The inputs are far from unit "
                       + "scale (the largest |x| is 255): standardise them with --standardize (or \"standardize\": true in the model)")
        let near = TrainingError.diverged(epoch: 1, step: 15, steps: 375, loss: .nan, learningRate: 0.01,
                                          checkpoint: nil, checkpointEpoch: nil, inputScale: 10)
        XCTAssertFalse(near.description.contains("standardi"))

        // Digits pixels are 0..16: unstandardised, with SGD and a huge learning rate, training diverges.
        var model = try trainingExampleModel("digits_mlp").model
        model.standardize = false
        model.optimizer = .sgd(lr: 0.01)
        let analysis = try model.analyze()
        let data = try trainingExampleData("digits", for: analysis)
        XCTAssertThrowsError(try train(analysis, data, learningRate: 1e6)) { error in
            guard case .diverged(_, _, _, _, _, _, _, let scale)? = error as? TrainingError else {
                return XCTFail("expected a divergence, got \(error)")
            }
            XCTAssertEqual(scale, 16)
            XCTAssertTrue("\(error)".contains("(the largest |x| is 16): standardise them with --standardize"), "\(error)")
        }
    }
}
