import Foundation
import ModelSpec

extension TrainingOptions {
    /// The options of a `nngen train` run from what the user gave (nil where an option was left
    /// out), under the resume policy. A fresh run takes each option or its default (the model's
    /// lr). A resumed run trains the same model as the checkpoint (the optimizer's lr aside),
    /// keeps the checkpoint's seed, validation split and dtype (asking for another value is an
    /// error; repeating the same one is fine), and may change only the learning rate: `learningRate`
    /// if given, else the checkpoint's. `checkpointFile` names the checkpoint in messages.
    public static func resolving(epochs: Int, learningRate: Double?, seed: UInt64?, validationSplit: Double?,
                                 scalar: ScalarType?, save: URL?, model: Model, resuming checkpoint: Checkpoint?,
                                 checkpointFile: String) throws -> TrainingOptions {
        guard let ck = checkpoint else {
            return TrainingOptions(epochs: epochs, learningRate: learningRate ?? model.optimizer.learningRate,
                                   seed: seed ?? TrainingDefaults.seed,
                                   validationSplit: validationSplit ?? TrainingDefaults.validationSplit,
                                   scalar: scalar ?? .f32, save: save)
        }
        do {
            try ck.checkSameModel(as: model, source: checkpointFile)
        } catch let error as CheckpointError {
            throw TrainingError.invalidOption("\(error). A resumed run trains the same model: the same MODEL file (none for "
                                              + "the built-in one) with the same --optimizer and --standardize; only --lr may change")
        }
        if let s = seed, s != ck.seed {
            throw TrainingError.resumeMismatch(file: checkpointFile, what: "seed", checkpoint: "\(ck.seed)", requested: "\(s)")
        }
        if let v = validationSplit, v != ck.validationSplit {
            throw TrainingError.resumeMismatch(file: checkpointFile, what: "validation split",
                                               checkpoint: "\(ck.validationSplit)", requested: "\(v)")
        }
        if let d = scalar, d != ck.scalar {
            throw TrainingError.resumeMismatch(file: checkpointFile, what: "dtype", checkpoint: ck.scalar.rawValue,
                                               requested: d.rawValue)
        }
        return TrainingOptions(epochs: epochs, learningRate: learningRate ?? ck.model.optimizer.learningRate, seed: ck.seed,
                               validationSplit: ck.validationSplit, scalar: ck.scalar, save: save)
    }
}
