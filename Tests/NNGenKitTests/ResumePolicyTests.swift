import Foundation
import ModelSpec
import NNGenKit
import XCTest

/// `TrainingOptions.resolving`, the resume policy of `nngen train`: what a resumed run keeps from
/// the checkpoint, what it may change (only the learning rate), and the messages when it asks for more.
final class ResumePolicyTests: XCTestCase {
    let model = Model(name: "resume_policy", input: .features(3), batch: 2,
                      layers: [.dense(units: 2)], loss: .mse, optimizer: .sgd(lr: 0.1))

    func checkpoint(lr: Double = 0.05) -> Checkpoint {
        var trained = model
        trained.optimizer = trained.optimizer.with(learningRate: lr)
        return Checkpoint(model: trained, scalar: .f64, parameters: [], optimizerState: [], step: 3, epoch: 1,
                          standardizer: nil, seed: 11, validationSplit: 0.25)
    }

    func resolve(lr: Double? = nil, seed: UInt64? = nil, split: Double? = nil, scalar: ScalarType? = nil,
                 model: Model? = nil, resuming: Checkpoint?) throws -> TrainingOptions {
        try TrainingOptions.resolving(epochs: 4, learningRate: lr, seed: seed, validationSplit: split, scalar: scalar,
                                      save: URL(fileURLWithPath: "/tmp/next.safetensors"), model: model ?? self.model,
                                      resuming: resuming, checkpointFile: "ck.safetensors")
    }

    func testFreshRunTakesTheOptionsOrTheDefaults() throws {
        let save = URL(fileURLWithPath: "/tmp/next.safetensors")
        XCTAssertEqual(try resolve(resuming: nil),
                       TrainingOptions(epochs: 4, learningRate: 0.1, seed: TrainingDefaults.seed,
                                       validationSplit: TrainingDefaults.validationSplit, scalar: .f32, save: save))
        XCTAssertEqual(try resolve(lr: 0.5, seed: 4, split: 0, scalar: .f64, resuming: nil),
                       TrainingOptions(epochs: 4, learningRate: 0.5, seed: 4, validationSplit: 0, scalar: .f64, save: save))
    }

    func testResumedRunKeepsTheCheckpointsSettingsAndMayChangeTheLearningRate() throws {
        let save = URL(fileURLWithPath: "/tmp/next.safetensors")
        let ck = checkpoint()
        XCTAssertEqual(try resolve(resuming: ck),
                       TrainingOptions(epochs: 4, learningRate: 0.05, seed: 11, validationSplit: 0.25, scalar: .f64, save: save))
        // Repeating the checkpoint's own values is fine; --lr overrides the checkpoint's lr.
        XCTAssertEqual(try resolve(lr: 0.01, seed: 11, split: 0.25, scalar: .f64, resuming: ck),
                       TrainingOptions(epochs: 4, learningRate: 0.01, seed: 11, validationSplit: 0.25, scalar: .f64, save: save))
    }

    func testResumedRunRefusesAnotherSeedSplitOrDtype() {
        let ck = checkpoint()
        let cases: [(() throws -> TrainingOptions, String, String, String)] = [
            ({ try self.resolve(seed: 12, resuming: ck) }, "seed", "11", "12"),
            ({ try self.resolve(split: 0.5, resuming: ck) }, "validation split", "0.25", "0.5"),
            ({ try self.resolve(scalar: .f32, resuming: ck) }, "dtype", "f64", "f32"),
        ]
        for (run, what, stored, asked) in cases {
            XCTAssertThrowsError(try run()) {
                XCTAssertEqual($0 as? TrainingError,
                               .resumeMismatch(file: "ck.safetensors", what: what, checkpoint: stored, requested: asked))
                XCTAssertEqual("\($0)", "ck.safetensors: the checkpoint was trained with \(what) \(stored), this run asks for "
                               + "\(asked); a resumed run keeps the checkpoint's \(what) (leave the option out)")
            }
        }
    }

    func testResumedRunRefusesAnotherModel() {
        var other = model
        other.optimizer = .adam(lr: 0.1)
        XCTAssertThrowsError(try resolve(model: other, resuming: checkpoint())) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix("ck.safetensors was written for another model: "), text)
            XCTAssertTrue(text.hasSuffix(". A resumed run trains the same model: the same MODEL file (none for the built-in "
                                         + "one) with the same --optimizer and --standardize; only --lr may change"), text)
        }
    }
}
