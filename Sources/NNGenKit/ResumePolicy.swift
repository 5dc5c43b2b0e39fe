import ModelSpec

/// The seed, validation split and dtype of a training run, as the user asked for them (nil
/// where an option was left out).
public struct RunSettingsRequest: Sendable, Equatable {
    public var seed: UInt64?
    public var validationSplit: Double?
    public var scalar: ScalarType?
    public var learningRate: Double?

    public init(seed: UInt64? = nil, validationSplit: Double? = nil, scalar: ScalarType? = nil,
                learningRate: Double? = nil) {
        self.seed = seed
        self.validationSplit = validationSplit
        self.scalar = scalar
        self.learningRate = learningRate
    }
}

/// The settings a training run uses, after the defaults and the resume policy.
public struct RunSettings: Sendable, Equatable {
    public var seed: UInt64
    public var validationSplit: Double
    public var scalar: ScalarType
    public var learningRate: Double

    public init(seed: UInt64, validationSplit: Double, scalar: ScalarType, learningRate: Double) {
        self.seed = seed
        self.validationSplit = validationSplit
        self.scalar = scalar
        self.learningRate = learningRate
    }
}

/// The resume policy of `nngen train`. A fresh run takes each option or its default (the
/// model's lr). A resumed run trains the same model as the checkpoint (the optimizer's lr
/// aside), keeps the checkpoint's seed, validation split and dtype (asking for another value
/// is an error; repeating the same one is fine), and may change only the learning rate: `--lr`
/// if given, else the checkpoint's lr. `checkpointFile` names the checkpoint in messages.
public func resolveRunSettings(_ request: RunSettingsRequest, model: Model, resuming checkpoint: Checkpoint?,
                               checkpointFile: String) throws -> RunSettings {
    guard let ck = checkpoint else {
        return RunSettings(seed: request.seed ?? TrainingDefaults.seed,
                           validationSplit: request.validationSplit ?? TrainingDefaults.validationSplit,
                           scalar: request.scalar ?? .f32,
                           learningRate: request.learningRate ?? model.optimizer.learningRate)
    }
    do {
        try ck.checkSameModel(as: model, source: checkpointFile)
    } catch let error as CheckpointError {
        throw TrainingError.invalidOption("\(error). A resumed run trains the same model: the same MODEL file (none for the "
                                          + "built-in one) with the same --optimizer and --standardize; only --lr may change")
    }
    if let s = request.seed, s != ck.seed {
        throw TrainingError.resumeMismatch(file: checkpointFile, what: "seed", checkpoint: "\(ck.seed)", requested: "\(s)")
    }
    if let v = request.validationSplit, v != ck.validationSplit {
        throw TrainingError.resumeMismatch(file: checkpointFile, what: "validation split",
                                           checkpoint: "\(ck.validationSplit)", requested: "\(v)")
    }
    if let d = request.scalar, d != ck.scalar {
        throw TrainingError.resumeMismatch(file: checkpointFile, what: "dtype", checkpoint: ck.scalar.rawValue,
                                           requested: d.rawValue)
    }
    return RunSettings(seed: ck.seed, validationSplit: ck.validationSplit, scalar: ck.scalar,
                       learningRate: request.learningRate ?? ck.model.optimizer.learningRate)
}
