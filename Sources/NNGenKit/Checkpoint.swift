import CodeGen
import DataIO
import Foundation
import ModelSpec

/// A training checkpoint as docs/TRAINING.md "Checkpoint" defines it: the parameters, the
/// optimizer state and step, the epochs completed, the standardizer, and (as metadata) the model
/// JSON, dtype, seed and validation split. Stored as safetensors; written atomically.
///
/// Tensors, in this order: every parameter by its own name (the model's dtype, its shape); the
/// optimizer state (`optimizer.momentum_buffer.NAME` for sgd with momentum,
/// `optimizer.exp_avg.NAME` then `optimizer.exp_avg_sq.NAME` for adam and adamw, each in
/// parameter order, same dtype and shape as the parameter); `optimizer.step` (I64, `[]`);
/// `training.epoch` (I64, `[]`); `standardizer.mean` and `standardizer.std` (F64,
/// `[input size]`) when the model standardises.
public struct Checkpoint: Sendable, Equatable {
    /// The `format` metadata value.
    public static let format = "nngen-checkpoint-1"

    /// The model trained, its optimizer's lr set to the learning rate of the run.
    public var model: Model
    /// The dtype of parameters and optimizer state.
    public var scalar: ScalarType
    /// The flat parameters, in the model's parameter order.
    public var parameters: [Double]
    /// The optimizer state in CompiledModel's layout: slot after slot (momentum, or m then v),
    /// each slot a flat array like the parameters.
    public var optimizerState: [Double]
    /// Optimizer steps taken.
    public var step: Int64
    /// Epochs completed.
    public var epoch: Int
    /// The standardisation statistics, when the model standardises.
    public var standardizer: Standardizer?
    /// The seed of the split, the epoch orders and the initial parameters.
    public var seed: UInt64
    /// The validation fraction of the split.
    public var validationSplit: Double
    /// The learning rate of the run that wrote the checkpoint (metadata `lr`, for information;
    /// nil when absent).
    public var learningRate: Double?
    /// The run's learning-rate schedule, when it changes the rate (metadata `train_schedule`,
    /// `train_warmup`, `train_step_size`, `train_gamma`, `train_lr_min`); nil for a constant rate.
    /// Its position is `step` and `epoch`.
    public var schedule: LearningRateSchedule?
    /// The run's gradient clipping norm (metadata `train_clip_norm`), if any.
    public var clipNorm: Double?
    /// The monitor of `--save-best` / `--patience` after `epoch` (metadata `train_monitor`,
    /// `train_min_delta`, `train_patience`, `train_best`, `train_best_epoch`, `train_bad_epochs`).
    public var monitor: MonitorState?

    /// A checkpoint from its parts; sizes are checked when it is turned into a file.
    public init(model: Model, scalar: ScalarType, parameters: [Double], optimizerState: [Double], step: Int64,
                epoch: Int, standardizer: Standardizer?, seed: UInt64, validationSplit: Double,
                learningRate: Double? = nil, schedule: LearningRateSchedule? = nil, clipNorm: Double? = nil,
                monitor: MonitorState? = nil) {
        self.schedule = schedule
        self.clipNorm = clipNorm
        self.monitor = monitor
        self.model = model
        self.scalar = scalar
        self.parameters = parameters
        self.optimizerState = optimizerState
        self.step = step
        self.epoch = epoch
        self.standardizer = standardizer
        self.seed = seed
        self.validationSplit = validationSplit
        self.learningRate = learningRate
    }

    // MARK: names

    /// The names of the optimizer state tensors of one parameter, one per state slot.
    public static func optimizerTensorNames(_ optimizer: Optimizer, parameter: String) -> [String] {
        switch optimizer {
        case .sgd: return optimizer.stateSlotsPerParameter == 1 ? ["optimizer.momentum_buffer.\(parameter)"] : []
        case .adam, .adamw: return ["optimizer.exp_avg.\(parameter)", "optimizer.exp_avg_sq.\(parameter)"]
        }
    }

    // MARK: writing

    /// The checkpoint as a safetensors file (tensors and metadata as documented on the type).
    public func safetensors() throws -> SafetensorsFile {
        let analysis = try model.analyze()
        let dtype = DType(scalar)
        let count = analysis.parameterCount
        guard parameters.count == count else {
            throw CheckpointError.sizeMismatch(what: "parameters", expected: count, found: parameters.count)
        }
        let slots = model.optimizer.stateSlotsPerParameter
        let trained = analysis.gradientCount  // frozen parameters have no optimizer state
        guard optimizerState.count == slots * trained else {
            throw CheckpointError.sizeMismatch(what: "optimizer state", expected: slots * trained, found: optimizerState.count)
        }
        var tensors: [Tensor] = []
        for p in analysis.parameters {
            tensors.append(try Tensor(name: p.name, shape: p.shape,
                                      doubles: Array(parameters[p.offset..<(p.offset + p.count)]), dtype: dtype))
        }
        for slot in 0..<slots {
            for p in analysis.parameters {
                guard let at = p.gradientOffset else { continue }
                let name = Self.optimizerTensorNames(model.optimizer, parameter: p.name)[slot]
                let start = slot * trained + at
                tensors.append(try Tensor(name: name, shape: p.shape,
                                          doubles: Array(optimizerState[start..<(start + p.count)]), dtype: dtype))
            }
        }
        tensors.append(try Tensor(name: "optimizer.step", shape: [], ints: [Int(step)], dtype: .i64))
        tensors.append(try Tensor(name: "training.epoch", shape: [], ints: [epoch], dtype: .i64))
        if let standardizer {
            tensors += try standardizer.tensors(dtype: .f64)
        }
        var metadata = [
            "format": Self.format,
            "model": model.jsonString,
            "dtype": scalar.rawValue,
            "seed": String(seed),
            "val_split": "\(validationSplit)",
        ]
        if let learningRate { metadata["lr"] = "\(learningRate)" }
        metadata.merge(trainingMetadata) { a, _ in a }
        return try SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    /// Writes the checkpoint atomically (a temporary file in the same folder, then a rename): a
    /// failed write leaves any earlier file at `url` unchanged.
    public func write(to url: URL) throws {
        try safetensors().write(to: url)
    }

    // MARK: reading

    /// Reads and checks a checkpoint written by `write(to:)` (or by the generated `./train`).
    public static func read(from url: URL) throws -> Checkpoint {
        try Checkpoint(file: SafetensorsFile.read(from: url), source: url.path)
    }

    /// Checks and decodes a checkpoint file; `source` names it in errors. Every tensor of the
    /// table must be present with its shape and dtype.
    public init(file: SafetensorsFile, source: String) throws {
        let meta = file.metadata
        guard let format = meta["format"] else {
            throw CheckpointError.notACheckpoint(file: source, found: "no \"format\" metadata")
        }
        guard format == Self.format else {
            throw CheckpointError.notACheckpoint(file: source, found: "format \"\(format)\"")
        }
        let model = try Self.storedModel(file, source: source)
        let analysis = try model.analyze(file: source)
        guard let dtypeText = meta["dtype"], let scalar = ScalarType(rawValue: dtypeText) else {
            throw CheckpointError.badMetadata(file: source, key: "dtype", found: meta["dtype"], expected: "f32 or f64")
        }
        guard let seedText = meta["seed"], let seed = UInt64(seedText) else {
            throw CheckpointError.badMetadata(file: source, key: "seed", found: meta["seed"],
                                              expected: "an unsigned 64-bit integer")
        }
        guard let splitText = meta["val_split"], let split = Double(splitText), split >= 0, split < 1 else {
            throw CheckpointError.badMetadata(file: source, key: "val_split", found: meta["val_split"],
                                              expected: "a number in [0, 1)")
        }
        let dtype = DType(scalar)
        let parameters = try Self.readParameters(file, source: source, analysis: analysis, dtype: dtype)
        var state: [Double] = []
        state.reserveCapacity(model.optimizer.stateSlotsPerParameter * analysis.gradientCount)
        for slot in 0..<model.optimizer.stateSlotsPerParameter {
            for p in analysis.parameters where p.trainable {
                let name = Self.optimizerTensorNames(model.optimizer, parameter: p.name)[slot]
                state += try Self.tensor(file, name, source: source, shape: p.shape, dtypes: [dtype]).asDoubles()
            }
        }
        let step = try Self.scalarInt(file, "optimizer.step", source: source)
        let epoch = try Self.scalarInt(file, "training.epoch", source: source)
        guard step >= 0, epoch >= 0 else {
            throw CheckpointError.wrongTensor(file: source, name: step < 0 ? "optimizer.step" : "training.epoch",
                                              expected: "0 or more", found: "\(step < 0 ? step : epoch)")
        }
        var standardizer: Standardizer?
        if model.standardize {
            standardizer = try Self.readStandardizer(file, source: source, analysis: analysis, required: true)
        }
        let (schedule, clipNorm, monitor) = try Self.readTrainingMetadata(meta, source: source)
        self.init(model: model, scalar: scalar, parameters: parameters, optimizerState: state, step: step,
                  epoch: Int(epoch), standardizer: standardizer, seed: seed, validationSplit: split,
                  learningRate: meta["lr"].flatMap(Double.init), schedule: schedule, clipNorm: clipNorm, monitor: monitor)
    }

    /// Throws `CheckpointError.wrongModel` unless this checkpoint was trained for `model`:
    /// the same model JSON, the optimizer's learning rate aside (a resumed run may change it).
    public func checkSameModel(as model: Model, source: String) throws {
        let differences = modelDifferences(stored: self.model, requested: model, ignoringLearningRate: true)
        guard differences.isEmpty else {
            throw CheckpointError.wrongModel(file: source, differences: differences)
        }
    }

    // MARK: helpers shared with ParameterFile

    static func storedModel(_ file: SafetensorsFile, source: String) throws -> Model {
        guard let json = file.metadata["model"] else {
            throw CheckpointError.badMetadata(file: source, key: "model", found: nil, expected: "the model JSON")
        }
        do {
            return try Model.decode(Data(json.utf8), source: "\(source) (metadata \"model\")")
        } catch {
            throw CheckpointError.badMetadata(file: source, key: "model", found: "JSON that is not a valid model: \(error)",
                                              expected: "the model JSON")
        }
    }

    static func tensor(_ file: SafetensorsFile, _ name: String, source: String, shape: [Int], dtypes: [DType]) throws -> Tensor {
        guard let t = file[name] else {
            throw CheckpointError.missingTensor(file: source, name: name)
        }
        guard t.shape == shape else {
            throw CheckpointError.wrongTensor(file: source, name: name, expected: "shape \(shape)", found: "shape \(t.shape)")
        }
        guard dtypes.contains(t.dtype) else {
            throw CheckpointError.wrongTensor(file: source, name: name,
                                              expected: "dtype " + dtypes.map(\.rawValue).joined(separator: " or "),
                                              found: "dtype \(t.dtype.rawValue)")
        }
        return t
    }

    static func readParameters(_ file: SafetensorsFile, source: String, analysis: ModelAnalysis, dtype: DType) throws -> [Double] {
        var parameters: [Double] = []
        parameters.reserveCapacity(analysis.parameterCount)
        for p in analysis.parameters {
            parameters += try tensor(file, p.name, source: source, shape: p.shape, dtypes: [dtype]).asDoubles()
        }
        return parameters
    }

    static func readStandardizer(_ file: SafetensorsFile, source: String, analysis: ModelAnalysis,
                                 required: Bool) throws -> Standardizer? {
        let features = analysis.model.input.shape.elementCount
        if !required && file["standardizer.mean"] == nil && file["standardizer.std"] == nil { return nil }
        let mean = try tensor(file, "standardizer.mean", source: source, shape: [features], dtypes: [.f64, .f32])
        let std = try tensor(file, "standardizer.std", source: source, shape: [features], dtypes: [.f64, .f32])
        do {
            return try Standardizer(mean: mean.asDoubles(), std: std.asDoubles())
        } catch {
            throw CheckpointError.wrongTensor(file: source, name: "standardizer", expected: "finite means and positive stds",
                                              found: error.kind.message)
        }
    }

    private static func scalarInt(_ file: SafetensorsFile, _ name: String, source: String) throws -> Int64 {
        let t = try tensor(file, name, source: source, shape: [], dtypes: [.i64])
        guard case .i64(let v) = t.storage, let first = v.first else {
            throw CheckpointError.wrongTensor(file: source, name: name, expected: "one I64 value", found: "none")
        }
        return first
    }
}

/// Parameters read for prediction: from a checkpoint, or from a parameters-only file that
/// `nngen init` wrote (or any safetensors file holding every parameter by name).
public struct ParameterFile: Sendable, Equatable {
    /// The `format` metadata value of files written by `nngen init`.
    public static let format = "nngen-parameters-1"

    /// The flat parameters.
    public var parameters: [Double]
    /// The dtype the parameters were stored in (F32 -> f32, F64 -> f64).
    public var scalar: ScalarType
    /// The standardizer stored with them, if any.
    public var standardizer: Standardizer?

    /// Reads the parameters of `analysis` from `url`. Every parameter must be present with its
    /// shape, all in F32 or all in F64. When the file names a model (metadata `model`), its input,
    /// layers and loss must be those of `analysis` (optimizer, batch and name may differ).
    public static func read(from url: URL, for analysis: ModelAnalysis) throws -> ParameterFile {
        try ParameterFile(file: SafetensorsFile.read(from: url), source: url.path, for: analysis)
    }

    /// Decodes a file already read; `source` names it in errors.
    public init(file: SafetensorsFile, source: String, for analysis: ModelAnalysis) throws {
        if file.metadata["model"] != nil {
            let stored = try Checkpoint.storedModel(file, source: source)
            let differences = modelDifferences(stored: stored, requested: analysis.model, architectureOnly: true)
            guard differences.isEmpty else {
                throw CheckpointError.wrongModel(file: source, differences: differences)
            }
        }
        guard let first = analysis.parameters.first else {
            parameters = []
            scalar = .f64
            standardizer = try Checkpoint.readStandardizer(file, source: source, analysis: analysis, required: false)
            return
        }
        guard let t = file[first.name] else { throw CheckpointError.missingTensor(file: source, name: first.name) }
        guard let stored = t.dtype.scalarType else {
            throw CheckpointError.wrongTensor(file: source, name: first.name, expected: "dtype F32 or F64",
                                              found: "dtype \(t.dtype.rawValue)")
        }
        scalar = stored
        parameters = try Checkpoint.readParameters(file, source: source, analysis: analysis, dtype: t.dtype)
        standardizer = try Checkpoint.readStandardizer(file, source: source, analysis: analysis, required: false)
    }

    /// The initial parameters for `seed` (identical to the generated `NAME_init`) as a file:
    /// every parameter by name in `scalar`, and metadata `format`, `model`, `dtype`, `seed`.
    public static func initial(_ analysis: ModelAnalysis, seed: UInt64, values: [Double], scalar: ScalarType) throws -> SafetensorsFile {
        let dtype = DType(scalar)
        var tensors: [Tensor] = []
        for p in analysis.parameters {
            tensors.append(try Tensor(name: p.name, shape: p.shape,
                                      doubles: Array(values[p.offset..<(p.offset + p.count)]), dtype: dtype))
        }
        return try SafetensorsFile(tensors: tensors, metadata: [
            "format": format, "model": analysis.model.jsonString, "dtype": scalar.rawValue, "seed": String(seed),
        ])
    }
}

/// Why a checkpoint or parameter file cannot be used.
public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is safetensors but not an nngen checkpoint.
    case notACheckpoint(file: String, found: String)
    /// A metadata value is missing or unreadable.
    case badMetadata(file: String, key: String, found: String?, expected: String)
    /// A tensor the model needs is absent.
    case missingTensor(file: String, name: String)
    /// A tensor has the wrong shape, dtype or value.
    case wrongTensor(file: String, name: String, expected: String, found: String)
    /// The file was written for another model; each difference is one line.
    case wrongModel(file: String, differences: [String])
    /// Values in code do not fit the model (a bug in the caller, not in a file).
    case sizeMismatch(what: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .notACheckpoint(let file, let found):
            return "\(file): not an nngen checkpoint (\(found); expected format \"\(Checkpoint.format)\", "
                + "as written by nngen train --save)"
        case .badMetadata(let file, let key, let found, let expected):
            return "\(file): metadata \"\(key)\" should be \(expected), found " + (found.map { "\"\($0)\"" } ?? "nothing")
        case .missingTensor(let file, let name):
            return "\(file): there is no tensor \"\(name)\"; the model needs it (was the file written for another model?)"
        case .wrongTensor(let file, let name, let expected, let found):
            return "\(file): tensor \"\(name)\" should have \(expected), found \(found)"
        case .wrongModel(let file, let differences):
            return "\(file) was written for another model: " + differences.joined(separator: "; ")
        case .sizeMismatch(let what, let expected, let found):
            return "the \(what) hold \(found) values; the model needs \(expected)"
        }
    }
}

extension CheckpointError: LocalizedError {
    /// The same text as `description`.
    public var errorDescription: String? { description }
}

/// What differs between the model stored in a file and the one requested, as readable lines
/// (`layers: the file has ..., this run has ...`); empty when they match. `architectureOnly`
/// compares input, layers and loss only (enough for prediction); `ignoringLearningRate` compares
/// everything but the optimizer's learning rate.
public func modelDifferences(stored: Model, requested: Model, ignoringLearningRate: Bool = false,
                             architectureOnly: Bool = false) -> [String] {
    var out: [String] = []
    func field(_ name: String, _ a: String, _ b: String) {
        if a != b { out.append("\(name): the file has \(a), this run has \(b)") }
    }
    func text(_ v: JSONValue) -> String { v.formatted().replacingOccurrences(of: "\n", with: " ") }
    func squeeze(_ s: String) -> String {
        s.split(whereSeparator: { $0 == " " }).joined(separator: " ")
    }
    if !architectureOnly { field("name", stored.name, requested.name) }
    // What trains is compared on its own line (and not at all for prediction).
    if !architectureOnly && stored.trainable != requested.trainable {
        func settings(_ m: Model) -> String {
            m.trainable.isEmpty ? "every layer trainable"
                : m.trainable.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        field("trainable", settings(stored), settings(requested))
    }
    var plainStored = stored, plainRequested = requested
    plainStored.trainable = [:]
    plainRequested.trainable = [:]
    let a = plainStored.json, b = plainRequested.json
    guard case .object(let pa) = a, case .object(let pb) = b else { return ["the model JSON differs"] }
    let da = Dictionary(pa, uniquingKeysWith: { x, _ in x }), db = Dictionary(pb, uniquingKeysWith: { x, _ in x })
    var keys = ["input", "layers", "loss"]
    if !architectureOnly { keys += ["batch", "standardize", "optimizer"] }
    for key in keys {
        var va = da[key] ?? .bool(false), vb = db[key] ?? .bool(false)
        if key == "optimizer" && ignoringLearningRate {
            va = stored.optimizer.with(learningRate: 0).json
            vb = requested.optimizer.with(learningRate: 0).json
            if va != vb {
                field("optimizer", squeeze(text(stored.optimizer.json)), squeeze(text(requested.optimizer.json)))
            }
            continue
        }
        if va != vb {
            if key == "layers", case .array(let la) = va, case .array(let lb) = vb {
                if la.count != lb.count {
                    out.append("layers: the file has \(la.count), this run has \(lb.count)")
                } else if let i = la.indices.first(where: { la[$0] != lb[$0] }) {
                    out.append("layers[\(i)]: the file has \(squeeze(text(la[i]))), this run has \(squeeze(text(lb[i])))")
                }
            } else {
                field(key, squeeze(text(va)), squeeze(text(vb)))
            }
        }
    }
    return out
}
