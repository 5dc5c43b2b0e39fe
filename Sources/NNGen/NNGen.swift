// nngen as a Swift library: one product, one `import NNGen`.
//
// Re-exports the modules whose types a user meets (the model and its DSL, data sets, the
// generated code, the JIT, training results and errors) and adds a small API over them:
// `ModelDataset`, `ModelTrainer`, `JITBackend`, and `Model.emitC` / `Model.cFiles` /
// `Model.checkGradients`. Everything here drives the same code as the `nngen` command.

@_exported import CodeGen
@_exported import DataIO
@_exported import JIT
@_exported import ModelSpec
@_exported import NNGenKit
import Foundation

/// The compiler that JIT-compiles the generated C: libtcc in process (fast to compile; the
/// library's default), the system's `cc` with optimisation, loaded with `dlopen`, or both in
/// turn (`auto`, the default of `nngen train`, `predict`, `eval` and `grad`).
public enum JITBackend: String, Sendable, CaseIterable {
    /// libtcc, in process; the library's default.
    case tcc
    /// `cc -O3 -march=native` and `dlopen`: slower to compile, faster to run.
    case cc
    /// tcc at once while `cc` compiles on another thread (started with the trainer, at a low
    /// priority); `ModelTrainer` moves to the cc build, with the whole training state, between
    /// two steps once it is ready (the same numbers: docs/TRAINING.md, "Back ends").
    /// `nngen train --backend auto`.
    case auto

    /// The JIT back end this case stands for (for `auto`, tcc: the build it starts on).
    public var backend: any CBackend { self == .cc ? CCBackend() : TCCBackend() }
}

/// An error of the library's own (files it writes, inputs of the wrong size), with the message
/// the `nngen` command prints for the same problem.
public struct NNGenError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The message.
    public var message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// A labelled data file read for one model, as `nngen train --data FILE` reads it: a CSV (the
/// model's input values, then the label for softmax cross-entropy or the target values) or a
/// safetensors file with `x` and `y`. Splitting and standardising happen in
/// `ModelTrainer.fit`, with the trainer's seed and validation split, as the command does.
public struct ModelDataset: Sendable, Equatable {
    /// The samples, in file order, not standardised.
    public var samples: Dataset
    /// Where they were read from (used in messages).
    public var source: String

    /// Reads `path` (`.csv` or `.safetensors`) for `model`. A column count that does not fit the
    /// model throws `TrainingError.dataDoesNotFitModel`; a bad file throws `DataError`.
    public init(file path: String, for model: Model) throws {
        let analysis = try model.analyze()
        samples = try ModelData.load(URL(fileURLWithPath: path), for: analysis)
        source = path
    }

    /// Reads a CSV file for `model`: the same as `init(file:for:)` for a `.csv` path.
    public init(csv path: String, for model: Model) throws {
        try self.init(file: path, for: model)
    }

    /// Samples already in memory.
    public init(_ samples: Dataset, source: String = "memory") {
        self.samples = samples
        self.source = source
    }

    /// The number of samples.
    public var count: Int { samples.count }
}

extension Model {
    /// The files `nngen emit` writes for this model: NAME.h, NAME.c, the standalone training
    /// program train.c, the runtime (nn_runtime.h/.c, nn_rt_*.c), Makefile and README.md.
    /// - Throws: `ModelSpecError` when the model is invalid or a constant does not hold in `dtype`.
    public func cFiles(dtype: ScalarType = .f32) throws -> [GeneratedFile] {
        let analysis = try analyze()
        try validate(for: dtype)
        return Standalone.files(for: compile(analysis, options: CompileOptions(scalar: dtype, gradientHooks: true)))
    }

    /// Writes what `nngen emit MODEL -o DIR --dtype DTYPE` writes into `directory` (created if
    /// missing) and returns the files written. In the directory, `make` builds `./train`.
    @discardableResult
    public func emitC(to directory: URL, dtype: ScalarType = .f32) throws -> [URL] {
        let files = try cFiles(dtype: dtype)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw NNGenError("cannot create the output directory \(directory.path): "
                             + Messages.fileProblem(error, path: directory.path, writing: true))
        }
        var written: [URL] = []
        for file in files {
            let url = directory.appendingPathComponent(file.name)
            do {
                try Data(file.contents.utf8).write(to: url, options: .atomic)
            } catch {
                throw NNGenError("cannot write \(url.path): \(Messages.fileProblem(error, path: url.path, writing: true))")
            }
            written.append(url)
        }
        return written
    }

    /// `nngen check` for one back end and dtype: compiles the model, draws parameters and a batch
    /// from `seed`, and compares the generated loss, every gradient and the input gradient (and
    /// `NAME_init`; with `steps > 0` the parameters after that many optimizer steps) with the
    /// Swift reference interpreter. `report.passed` tells whether every row is within tolerance.
    public func checkGradients(backend: JITBackend = .tcc, dtype: ScalarType = .f32,
                               seed: UInt64 = TrainingDefaults.seed, steps: Int = 0) throws -> CheckReport {
        let analysis = try analyze()
        try validate(for: dtype)
        return try NNGenKit.checkGradients(analysis, backend: backend.backend, scalar: dtype, seed: seed, steps: steps)
    }
}

/// A model compiled once with the JIT and trained, evaluated, saved and used for prediction in
/// as many calls as wanted, with the command line's defaults (f32, tcc, seed 1, 20% validation).
///
/// `fit` trains as `nngen train` does (docs/TRAINING.md): the data is shuffled with `seed`, the
/// last `validationSplit` of it held out, inputs standardised with the training part's statistics
/// when the model asks for it, epoch `e` in the order seeded `seed + e`. `fit(data, epochs: N)`
/// on a fresh trainer gives the parameters of `nngen train MODEL --data FILE --epochs N`; a
/// second `fit` continues from the state the first one left, as `--resume` does.
///
/// `fit(_:epochs:learningRate:save:options:onEpoch:)` takes the rest of what `nngen train` offers
/// as `FitOptions` (schedules, clipping, best checkpoint, early stopping, log and plot); freezing
/// is the model's (`.frozen()`, `.trainable(_:)` in the DSL, or `freeze:`/`trainOnly:` here, as
/// `--freeze`/`--train-only`), and `loadParameters(from:partial:)` is `--init`.
///
/// All methods may be called from any thread; calls are serialised by a lock.
public final class ModelTrainer: @unchecked Sendable {
    /// The model being trained (with its optimizer's learning rate as given).
    public let model: Model
    /// The JIT back end the model was compiled with.
    public let backend: JITBackend
    /// Threads for the big products (`nngen train --threads`; cc only, same results for any number).
    public let threads: Int
    /// The scalar type of the generated code.
    public let dtype: ScalarType
    /// The seed of the initial parameters, the split and every epoch's order.
    public let seed: UInt64
    /// The fraction of the samples held out for validation, in `[0, 1)`.
    public let validationSplit: Double
    /// Seconds spent generating and compiling the code.
    public let compileSeconds: Double

    private let analysis: ModelAnalysis
    /// The build in use: with `.auto`, `tiered`'s current one (refreshed by `current()`).
    private var compiled: CompiledModel
    /// With `.auto`: the tcc build and the cc build compiling beside it.
    private let tiered: TieredModel?
    private let lock = NSLock()
    private var completed = 0
    private var standardizer: Standardizer?
    /// The settings of the last run (or the checkpoint's): learning rate, schedule, clipping.
    private var settings: TrainingOptions
    /// The monitor the last run left (or the checkpoint's).
    private var monitorState: MonitorState?

    /// Generates the model's C and compiles it with `backend`, then initialises the parameters
    /// with `NAME_init(seed)`. `freeze` and `trainOnly` are the patterns of `nngen train --freeze`
    /// and `--train-only` over parameter names (`layers.0.*`, `*.weight`): they override the
    /// model's `trainable` settings, and `model` is the model with them applied.
    /// - Throws: `ModelSpecError` for an invalid model or a pattern that matches no parameter,
    ///   `JITError` when compiling fails, `TrainingError.invalidOption` for a validation split
    ///   outside `[0, 1)`, `BenchError` for `threads` below 1 or above 1 with tcc.
    public init(_ model: Model, backend: JITBackend = .tcc, dtype: ScalarType = .f32,
                seed: UInt64 = TrainingDefaults.seed,
                validationSplit: Double = TrainingDefaults.validationSplit,
                freeze: [String] = [], trainOnly: [String] = [], threads: Int = 1) throws {
        guard validationSplit >= 0 && validationSplit < 1 else {
            throw TrainingError.invalidOption("the validation split must be at least 0 and below 1 (got \(validationSplit))")
        }
        let model = freeze.isEmpty && trainOnly.isEmpty ? model
            : try model.overridingTrainable(freeze: freeze, trainOnly: trainOnly)
        analysis = try model.analyze()
        try model.validate(for: dtype)
        switch try backendSelection(backend.rawValue, threads: threads) {
        case .single(let b):
            compiled = try CompiledModel(analysis: analysis, backend: b, scalar: dtype)
            tiered = nil
        case .auto(let tier):
            let model = try TieredModel(analysis: analysis, options: CompileOptions(scalar: dtype), tiered: tier)
            // A trainer lives across calls, so the work ahead is unknown: the cc build starts now.
            model.startOptimisedBuild(workLeft: .infinity)
            compiled = model.current
            tiered = model
        }
        compiled.initialize(seed: seed)
        self.model = model
        self.backend = backend
        self.threads = threads
        self.dtype = dtype
        self.seed = seed
        self.validationSplit = validationSplit
        compileSeconds = compiled.compileSeconds
        settings = TrainingOptions(learningRate: model.optimizer.learningRate, seed: seed,
                                   validationSplit: validationSplit, scalar: dtype)
    }

    /// Continues from a checkpoint written by `save` or by `nngen train --save`: its model,
    /// dtype, seed, split, parameters, optimizer state, step, epoch, standardizer, learning rate,
    /// and the schedule, clipping and monitor that a `fit` without `FitOptions` continues.
    public convenience init(checkpoint path: String, backend: JITBackend = .tcc, threads: Int = 1) throws {
        let ck = try Checkpoint.read(from: URL(fileURLWithPath: path))
        try self.init(ck.model, backend: backend, dtype: ck.scalar, seed: ck.seed, validationSplit: ck.validationSplit,
                      threads: threads)
        try compiled.restore(ck)
        completed = ck.epoch
        standardizer = ck.standardizer
        settings.learningRate = ck.learningRate ?? ck.model.optimizer.learningRate
        settings = settings.applying(TrainingFeatureFlags(), resuming: ck)
        monitorState = ck.monitor
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// With `.auto`, moves to the cc build once it is ready (the lock held); the build in use.
    @discardableResult
    private func current() -> CompiledModel {
        if let tiered {
            tiered.switchIfReady()
            compiled = tiered.current
        }
        return compiled
    }

    /// The epochs trained so far.
    public var epochsCompleted: Int { locked { completed } }

    /// The current parameters, flat, in the order of `ModelAnalysis.parameters`.
    public var parameters: [Double] { locked { compiled.parameters } }

    /// Starts from pretrained parameters (`nngen train --init`): every tensor of the safetensors
    /// file at `path` is matched to a parameter by name (nngen's `layers.0.weight`, or a PyTorch
    /// `nn.Sequential` state_dict's `0.weight`), F32 or F64; an nngen checkpoint's optimizer state
    /// is skipped. With `partial`, parameters the file lacks keep their current values. Call it
    /// before `fit`; the model's `trainable` settings decide what `fit` then updates.
    /// - Returns: the names of the parameters loaded.
    /// - Throws: `InitialParametersError` listing missing, extra and misshapen tensors;
    ///   `DataError` when the file cannot be read.
    @discardableResult
    public func loadParameters(from path: String, partial: Bool = false) throws -> [String] {
        try locked { try compiled.loadInitialParameters(from: URL(fileURLWithPath: path), partial: partial).loaded }
    }

    /// Trains `epochs` more epochs on `data` and returns their reports (`onEpoch` is called after
    /// each one), as `nngen train` with `--epochs` the total so far plus `epochs`: a fresh trainer
    /// gives the parameters and checkpoints of the command with the same flags, and a later call
    /// continues as `--resume` does. `learningRate` replaces the model's (or the previous run's)
    /// from now on; `save` writes a checkpoint atomically at the end of every epoch; `options`
    /// holds the schedule, clipping, best checkpoint, early stopping, log and plot (the previous
    /// run's schedule, clipping and monitor where nil).
    /// - Throws: `TrainingError` (`.diverged` on a NaN or infinite loss, `.noFullBatch`,
    ///   `.invalidOption` naming the flag for a value out of range), `DataError`, checkpoint write
    ///   errors, `TrainingRecordError` when the log or plot cannot be written after an epoch.
    @discardableResult
    public func fit(_ data: ModelDataset, epochs: Int, learningRate: Double? = nil, save: String? = nil,
                    options: FitOptions = FitOptions(), onEpoch: ((EpochReport) -> Void)? = nil) throws -> TrainingSummary {
        try locked {
            guard epochs >= 1 else { throw TrainingError.invalidOption("--epochs must be at least 1, got \(epochs)") }
            let run = try TrainingOptions.resolving(epochs: completed + epochs, learningRate: learningRate ?? settings.learningRate,
                                                    seed: seed, validationSplit: validationSplit, scalar: dtype,
                                                    save: save.map { URL(fileURLWithPath: $0) }, model: model,
                                                    resuming: nil, checkpointFile: "")
                .applying(options.flags, resuming: currentCheckpoint)
            let trainer = try Trainer(analysis: analysis, dataset: data.samples, options: run, compiled: compiled,
                                      epochsCompleted: completed, standardizer: standardizer, monitor: monitorState,
                                      tiered: tiered)
            let recorder = options.log == nil && options.plot == nil ? nil
                : try TrainingRecorder(log: options.log.map { URL(fileURLWithPath: $0) },
                                       plot: options.plot.map { URL(fileURLWithPath: $0) }, loss: model.loss)
            settings = run
            standardizer = trainer.data.standardizer
            defer {
                completed = trainer.epochsCompleted
                monitorState = trainer.monitorState
                compiled = trainer.compiled
            }
            return try trainer.run(recorder: recorder, checkpointName: save, onEpoch: onEpoch)
        }
    }

    /// The current state as a checkpoint, in the format of `nngen train --save`.
    public var checkpoint: Checkpoint { locked { currentCheckpoint } }

    /// `checkpoint`, with the lock held.
    private var currentCheckpoint: Checkpoint {
        Checkpoint(training: model, compiled: compiled, options: settings, epoch: completed, standardizer: standardizer,
                   monitor: monitorState)
    }

    /// Writes `checkpoint` to `path` atomically; `nngen predict`, `nngen eval` and
    /// `nngen train --resume` read it, and so does `init(checkpoint:)`.
    public func save(_ path: String) throws {
        try checkpoint.write(to: URL(fileURLWithPath: path))
    }

    /// The model's outputs (logits for classification) for each row of raw input values. The
    /// rows are standardised first when the model standardises, with the statistics of the
    /// training part of the last `fit` (or of the checkpoint).
    /// - Throws: `NNGenError` when a row does not hold the model's number of input values.
    public func predict(_ rows: [[Double]]) throws -> [[Double]] {
        try locked {
            let f = model.input.shape.elementCount
            var x: [Double] = []
            x.reserveCapacity(rows.count * f)
            for (i, row) in rows.enumerated() {
                guard row.count == f else {
                    throw NNGenError("row \(i) holds \(row.count) values; the model \(model.name) takes \(f) input values")
                }
                if let s = standardizer {
                    for j in 0..<f { x.append(Standardizer.standardized(row[j], mean: s.mean[j], std: s.std[j])) }
                } else {
                    x += row
                }
            }
            guard !rows.isEmpty else { return [] }
            let out = try Evaluation.predict(current(), x: x, count: rows.count)
            let k = analysis.outputCount
            return (0..<rows.count).map { Array(out[($0 * k)..<(($0 + 1) * k)]) }
        }
    }

    /// The predicted class of each row (the index of the largest output), for classification.
    public func classify(_ rows: [[Double]]) throws -> [Int] {
        try predict(rows).map { out in out.indices.max { out[$0] < out[$1] } ?? 0 }
    }

    /// The loss (and accuracy or R²) on every sample of `data`, standardised as in `predict`,
    /// as `nngen eval` reports them.
    public func evaluate(_ data: ModelDataset) throws -> EvaluationMetrics {
        try locked {
            let samples = try standardizer.map { try $0.apply(to: data.samples) } ?? data.samples
            return try Evaluation.evaluate(current(), on: samples)
        }
    }
}
