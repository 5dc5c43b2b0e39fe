import ModelSpec
import NNGenKit
import XCTest

/// `resolveRunSettings`, the resume policy of `nngen train`: what a resumed run keeps from the
/// checkpoint, what it may change (only the learning rate), and the messages when it asks for more.
final class ResumePolicyTests: XCTestCase {
    let model = Model(name: "resume_policy", input: .features(3), batch: 2,
                      layers: [.dense(units: 2)], loss: .mse, optimizer: .sgd(lr: 0.1))

    func checkpoint(lr: Double = 0.05) -> Checkpoint {
        var trained = model
        trained.optimizer = trained.optimizer.with(learningRate: lr)
        return Checkpoint(model: trained, scalar: .f64, parameters: [], optimizerState: [], step: 3, epoch: 1,
                          standardizer: nil, seed: 11, validationSplit: 0.25)
    }

    func testFreshRunTakesTheOptionsOrTheDefaults() throws {
        let defaults = try resolveRunSettings(RunSettingsRequest(), model: model, resuming: nil, checkpointFile: "")
        XCTAssertEqual(defaults, RunSettings(seed: TrainingDefaults.seed, validationSplit: TrainingDefaults.validationSplit,
                                             scalar: .f32, learningRate: 0.1))
        let given = try resolveRunSettings(RunSettingsRequest(seed: 4, validationSplit: 0, scalar: .f64, learningRate: 0.5),
                                           model: model, resuming: nil, checkpointFile: "")
        XCTAssertEqual(given, RunSettings(seed: 4, validationSplit: 0, scalar: .f64, learningRate: 0.5))
    }

    func testResumedRunKeepsTheCheckpointsSettingsAndMayChangeTheLearningRate() throws {
        let ck = checkpoint()
        let kept = try resolveRunSettings(RunSettingsRequest(), model: model, resuming: ck, checkpointFile: "ck.safetensors")
        XCTAssertEqual(kept, RunSettings(seed: 11, validationSplit: 0.25, scalar: .f64, learningRate: 0.05))
        // Repeating the checkpoint's own values is fine; --lr overrides the checkpoint's lr.
        let same = try resolveRunSettings(RunSettingsRequest(seed: 11, validationSplit: 0.25, scalar: .f64, learningRate: 0.01),
                                          model: model, resuming: ck, checkpointFile: "ck.safetensors")
        XCTAssertEqual(same, RunSettings(seed: 11, validationSplit: 0.25, scalar: .f64, learningRate: 0.01))
    }

    func testResumedRunRefusesAnotherSeedSplitOrDtype() {
        let ck = checkpoint()
        for (request, what, stored, asked) in [(RunSettingsRequest(seed: 12), "seed", "11", "12"),
                                               (RunSettingsRequest(validationSplit: 0.5), "validation split", "0.25", "0.5"),
                                               (RunSettingsRequest(scalar: .f32), "dtype", "f64", "f32")] {
            XCTAssertThrowsError(try resolveRunSettings(request, model: model, resuming: ck, checkpointFile: "ck.safetensors")) {
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
        XCTAssertThrowsError(try resolveRunSettings(RunSettingsRequest(), model: other, resuming: checkpoint(),
                                                    checkpointFile: "ck.safetensors")) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix("ck.safetensors was written for another model: "), text)
            XCTAssertTrue(text.hasSuffix(". A resumed run trains the same model: the same MODEL file (none for the built-in "
                                         + "one) with the same --optimizer and --standardize; only --lr may change"), text)
        }
    }
}
