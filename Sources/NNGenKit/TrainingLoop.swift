import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec

/// The settings of a training run (docs/TRAINING.md).
public struct TrainingOptions: Sendable, Equatable {
    /// The total number of epochs; a resumed run continues up to this number.
    public var epochs: Int
    /// The learning rate passed to every `train_step`.
    public var learningRate: Double
    /// The seed of the split, of every epoch's order (`seed + e`) and of the initial parameters.
    public var seed: UInt64
    /// The validation fraction, in `[0, 1)`; 0 trains on everything.
    public var validationSplit: Double
    /// float32 or float64 generated code.
    public var scalar: ScalarType
    /// Where to save a checkpoint at the end of every epoch, if anywhere.
    public var save: URL?
    /// The learning-rate schedule (constant by default).
    public var schedule: LearningRateSchedule
    /// Clip the gradients to this global L2 norm before every update (nil: no clipping).
    public var clipNorm: Double?
    /// Where to save the checkpoint of the best epoch (by `monitor`), if anywhere.
    public var saveBest: URL?
    /// The metric `saveBest` and `patience` watch.
    public var monitor: MonitoredMetric
    /// The improvement an epoch must exceed to count as better.
    public var minDelta: Double
    /// Stop after this many epochs without improvement (nil: run every epoch).
    public var patience: Int?

    public init(epochs: Int = TrainingDefaults.epochs, learningRate: Double, seed: UInt64 = TrainingDefaults.seed,
                validationSplit: Double = TrainingDefaults.validationSplit, scalar: ScalarType = .f32, save: URL? = nil,
                schedule: LearningRateSchedule = LearningRateSchedule(), clipNorm: Double? = nil, saveBest: URL? = nil,
                monitor: MonitoredMetric = .valLoss, minDelta: Double = 0, patience: Int? = nil) {
        self.epochs = epochs
        self.learningRate = learningRate
        self.seed = seed
        self.validationSplit = validationSplit
        self.scalar = scalar
        self.save = save
        self.schedule = schedule
        self.clipNorm = clipNorm
        self.saveBest = saveBest
        self.monitor = monitor
        self.minDelta = minDelta
        self.patience = patience
    }

    /// Whether the run watches a validation metric (`--save-best` or `--patience`).
    public var monitors: Bool { saveBest != nil || patience != nil }
}

/// One epoch's results, and its line as docs/TRAINING.md prints it.
public struct EpochReport: Sendable, Equatable {
    /// The epoch, 1-based.
    public var epoch: Int
    /// The total number of epochs of the run.
    public var epochs: Int
    /// The mean of the epoch's batch losses (summed in double in step order).
    public var trainLoss: Double
    /// The validation metrics, when there is a validation part.
    public var validation: EvaluationMetrics?
    /// Training samples per second of wall time spent on the epoch's steps.
    public var samplesPerSecond: Double
    /// The steps taken (full batches).
    public var steps: Int
    /// The learning rate of the epoch's last step, when a schedule changes it during the run.
    public var learningRate: Double?

    public init(epoch: Int, epochs: Int, trainLoss: Double, validation: EvaluationMetrics?, samplesPerSecond: Double,
                steps: Int, learningRate: Double? = nil) {
        self.epoch = epoch
        self.epochs = epochs
        self.trainLoss = trainLoss
        self.validation = validation
        self.samplesPerSecond = samplesPerSecond
        self.steps = steps
        self.learningRate = learningRate
    }

    /// `epoch 3/20  train_loss 0.123456  val_loss 0.234567  val_acc 96.11%  1234 samples/s`
    /// (no `val_*` fields without validation, no `val_acc` for regression; `  lr 0.00175` after
    /// `3/20` when a schedule changes the learning rate).
    public var line: String {
        var s = "epoch \(epoch)/\(epochs)"
        if let lr = learningRate { s += "  lr " + String(format: "%.6g", lr) }
        s += "  train_loss " + String(format: "%.6f", trainLoss)
        if let v = validation {
            s += "  val_loss " + String(format: "%.6f", v.loss)
            if let acc = v.accuracy { s += "  val_acc " + String(format: "%.2f%%", acc * 100) }
        }
        s += "  " + String(format: "%.0f", samplesPerSecond) + " samples/s"
        return s
    }
}

/// Progress within an epoch, reported after every step.
public struct StepProgress: Sendable, Equatable {
    public var epoch: Int
    public var epochs: Int
    /// Steps done in this epoch (1-based count).
    public var step: Int
    /// Steps in the epoch.
    public var steps: Int
    /// The mean loss of the steps done so far in this epoch.
    public var runningLoss: Double
    /// Training samples per second so far in this epoch.
    public var samplesPerSecond: Double
}

/// The outcome of `Trainer.run`.
public struct TrainingSummary: Sendable {
    /// The epochs run by this call (after the resumed ones).
    public var reports: [EpochReport]
    /// The total number of epochs asked for.
    public var epochs: Int
    /// The epoch with the lowest validation loss and its metrics.
    public var bestLoss: (epoch: Int, metrics: EvaluationMetrics)?
    /// With `--backend auto`: which builds the run used and when it switched (nil with one back end).
    public var tiering: TieringOutcome?
    /// Seconds from the start of compilation to the end of this run's first step (nil when the
    /// run took no step or did not compile: `ModelTrainer`'s later calls).
    public var firstStepSeconds: Double?
    /// The epoch with the highest validation accuracy (classification) and its metrics.
    public var bestAccuracy: (epoch: Int, metrics: EvaluationMetrics)?
    /// Wall time of the epochs, in seconds.
    public var seconds: Double
    /// Seconds spent generating and compiling the code.
    public var compileSeconds: Double
    /// The checkpoint written at the end of every epoch, if `save` was given.
    public var checkpoint: URL?
    /// The best epoch's checkpoint, if `saveBest` was given, and its epoch.
    public var bestCheckpoint: (file: URL, epoch: Int)?
    /// Why training stopped before `epochs` (patience ran out), or nil when it ran every epoch.
    public var stoppedEarly: String?

    /// The last epoch's report.
    public var final: EpochReport? { reports.last }
}

/// What a `--backend auto` run ran on (docs/TRAINING.md, "Back ends").
public enum TieringOutcome: Sendable, Equatable {
    /// It moved to the cc build when `step` optimizer steps were done, in epoch `epoch`.
    case switched(step: Int64, epoch: Int)
    /// The run ended before the cc build was ready.
    case tccThroughout
    /// The work left after the first step was too short for a cc build to pay off
    /// (`TieredBackend.minimumWork`), so none was started.
    case tooShort
    /// The cc build failed (the warning quoted the compiler); the run stayed on tcc.
    case ccFailed
    /// The model had moved to the cc build before this run (a later `ModelTrainer.fit`).
    case ccThroughout

    /// `switched to cc at step 412 (epoch 1)`, `tcc throughout (the run ended before the cc build
    /// was ready)` or `tcc throughout (the cc build failed: see the warning)`.
    public var text: String {
        switch self {
        case let .switched(step, epoch): return "switched to cc at step \(step) (epoch \(epoch))"
        case .tccThroughout: return "tcc throughout (the run ended before the cc build was ready)"
        case .tooShort: return "tcc throughout (too little work left after the first step for a cc build to pay off)"
        case .ccFailed: return "tcc throughout (the cc build failed: see the warning)"
        case .ccThroughout: return "cc throughout (the switch came in an earlier run)"
        }
    }
}

/// Trains a compiled model on a data set as docs/TRAINING.md defines it: split and standardise,
/// then per epoch a fresh order seeded `seed + e`, full batches only, one `train_step` each;
/// validation, the epoch line and (when asked) an atomic checkpoint at the end of every epoch.
/// A NaN or infinite loss (or parameter) stops training with `TrainingError.diverged`.
public final class Trainer {
    /// The analysis of the model being trained.
    public let analysis: ModelAnalysis
    /// The compiled model with its parameters and optimizer state: with `--backend auto`, the
    /// tcc build until the run switches to the cc build.
    public private(set) var compiled: CompiledModel
    /// With `--backend auto`: the tcc build and the cc build compiling beside it.
    private let tiered: TieredModel?
    /// Whether this trainer made `tiered` (and stops its cc build when the run ends).
    private let ownsTiered: Bool
    /// When compilation began (for `TrainingSummary.firstStepSeconds`); nil once reported.
    private var compileStart: UInt64?
    /// Called with a warning (the failed cc build of `--backend auto`, quoting the compiler);
    /// by default it is written to stderr as `warning: ...`.
    public var warn: (String) -> Void = { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }
    /// The split, standardised data.
    public let data: TrainingData
    /// The run's settings.
    public let options: TrainingOptions
    /// Epochs completed so far (from the checkpoint when resuming).
    public private(set) var epochsCompleted: Int
    /// The last good checkpoint on disk and its epoch: the one this run saved last, or the one
    /// it resumed from.
    private var lastGood: (file: URL, epoch: Int)?
    /// The best epoch so far and the epochs since, when the run monitors a metric (from the
    /// checkpoint when resuming with the same metric).
    public private(set) var monitorState: MonitorState?

    /// Compiles `analysis` with `backend`, prepares the data and sets the starting state: the
    /// checkpoint's parameters, optimizer state, step, epoch and standardizer when `resume` is
    /// given (it must be for this model: see `Checkpoint.checkSameModel`), otherwise
    /// `NAME_init(seed)`. `resumeFile` names the checkpoint's file in a divergence message.
    public convenience init(analysis: ModelAnalysis, dataset: Dataset, options: TrainingOptions, backend: any CBackend,
                            resume: Checkpoint? = nil, resumeFile: URL? = nil) throws {
        try self.init(analysis: analysis, dataset: dataset, options: options, selection: .single(backend),
                      resume: resume, resumeFile: resumeFile)
    }

    /// The same with `--backend auto` possible: `.auto` trains on the tcc build at once while the
    /// cc build compiles on another thread, and moves to it, with the whole state, at the first
    /// step boundary after it is ready (`TieredModel`); the summary's `tiering` says when.
    public init(analysis: ModelAnalysis, dataset: Dataset, options: TrainingOptions, selection: BackendSelection,
                resume: Checkpoint? = nil, resumeFile: URL? = nil) throws {
        data = try Self.prepare(analysis, dataset, options, standardizer: resume?.standardizer)
        self.analysis = analysis
        self.options = options
        compileStart = DispatchTime.now().uptimeNanoseconds
        switch selection {
        case .single(let backend):
            tiered = nil
            ownsTiered = true
            compiled = try CompiledModel(analysis: analysis, backend: backend, scalar: options.scalar)
        case .auto(let tier):
            let model = try TieredModel(analysis: analysis, options: CompileOptions(scalar: options.scalar), tiered: tier)
            tiered = model
            ownsTiered = true
            compiled = model.current
        }
        if let resume {
            guard resume.scalar == options.scalar else {
                throw TrainingError.resumeMismatch(file: resumeFile?.path ?? "the checkpoint", what: "dtype",
                                                   checkpoint: resume.scalar.rawValue, requested: options.scalar.rawValue)
            }
            try compiled.restore(resume)
            epochsCompleted = resume.epoch
            lastGood = resumeFile.map { ($0, resume.epoch) }
        } else {
            compiled.initialize(seed: options.seed)
            epochsCompleted = 0
        }
        monitorState = Self.startingMonitor(options, resumed: resume?.monitor)
    }

    /// The monitor a run starts with: none unless it monitors; the checkpoint's best and count
    /// when it watched the same metric, with this run's min-delta and patience.
    static func startingMonitor(_ options: TrainingOptions, resumed: MonitorState?) -> MonitorState? {
        guard options.monitors else { return nil }
        var state = MonitorState(metric: options.monitor, minDelta: options.minDelta, patience: options.patience)
        if let r = resumed, r.metric == options.monitor {
            state.best = r.best
            state.badEpochs = r.badEpochs
        }
        return state
    }

    /// What both initializers check before training, in this order: the options, the model's
    /// constants (unless `compiled`: code exists, so whoever compiled it checked them) and the
    /// learning rate against the dtype, the save paths, the schedule, clipping and monitor settings
    /// (`featureProblem`); then the data split (and standardised: with `standardizer` when given,
    /// else fitted on the training part), which must hold a full batch.
    static func prepare(_ analysis: ModelAnalysis, _ dataset: Dataset, _ options: TrainingOptions,
                        standardizer: Standardizer?, compiled: Bool = false) throws -> TrainingData {
        guard options.epochs >= 1 else { throw TrainingError.invalidOption("--epochs must be at least 1, got \(options.epochs)") }
        guard options.learningRate.isFinite, options.learningRate > 0 else {
            throw TrainingError.invalidOption("the learning rate must be a positive number, got \(options.learningRate)")
        }
        // Every number that becomes a C literal, and the learning rate, must hold in the dtype.
        if !compiled { try analysis.validate(for: options.scalar) }
        if let problem = options.scalar.literalProblem(options.learningRate, field: "the learning rate") {
            throw TrainingError.invalidOption(problem)
        }
        if let save = options.save { try SafetensorsFile.checkWritable(save) }
        if let best = options.saveBest { try SafetensorsFile.checkWritable(best) }
        try checkTrainingFeatures(analysis, options)
        let data = try TrainingData(data: dataset, model: analysis.model, seed: options.seed,
                                    validationSplit: options.validationSplit, standardizer: standardizer)
        guard data.train.count >= analysis.model.batch else {
            throw TrainingError.noFullBatch(trainingSamples: data.train.count, batch: analysis.model.batch,
                                            validationSplit: options.validationSplit)
        }
        return data
    }

    /// Continues training an already compiled model in its current state (parameters, optimizer
    /// state, step), with `epochsCompleted` epochs behind it: the library's `ModelTrainer` compiles
    /// once and trains in several calls. The options and the data are checked as the other
    /// initializer checks them (the model's constants were checked when `compiled` was made, for
    /// its dtype: `ModelTrainer` does it); nothing is compiled or initialised. `standardizer`, when given
    /// (from an earlier run on the same model), is used instead of fitting one; `monitor`, the
    /// monitor an earlier run left, continues as a resumed checkpoint's does (same metric only).
    /// With `tiered` (the library's `.auto`), `compiled` is ignored: the run continues on the tiered
    /// model's current build and switches builds as `--backend auto` does; the cc build is left
    /// running when the call ends, for the next one.
    public init(analysis: ModelAnalysis, dataset: Dataset, options: TrainingOptions, compiled: CompiledModel,
                epochsCompleted: Int, standardizer: Standardizer? = nil, monitor: MonitorState? = nil,
                tiered: TieredModel? = nil) throws {
        data = try Self.prepare(analysis, dataset, options, standardizer: standardizer, compiled: true)
        self.analysis = analysis
        self.options = options
        self.compiled = tiered?.current ?? compiled
        self.tiered = tiered
        ownsTiered = false
        self.epochsCompleted = epochsCompleted
        monitorState = Self.startingMonitor(options, resumed: monitor)
    }

    /// The current state as a checkpoint; its model carries the learning rate of this run.
    public var checkpoint: Checkpoint {
        Checkpoint(training: analysis.model, compiled: compiled, options: options, epoch: epochsCompleted,
                   standardizer: data.standardizer, monitor: monitorState)
    }

    /// Runs epochs `epochsCompleted + 1 ... options.epochs`. `onStep` is called after every step,
    /// `onEpoch` after every epoch (after the checkpoint is saved; an error it throws stops the run).
    /// - Throws: `TrainingError.diverged` (the checkpoint of the previous epoch stays on disk),
    ///   checkpoint write errors, errors from `onEpoch`, or errors from the compiled model.
    @discardableResult
    public func run(onStep: ((StepProgress) -> Void)? = nil, onEpoch: ((EpochReport) throws -> Void)? = nil) throws -> TrainingSummary {
        let model = analysis.model
        let batch = model.batch
        let f = model.input.shape.elementCount
        let k = analysis.outputCount
        let train = data.train
        let n = train.count
        let steps = n / batch
        let schedule = options.schedule
        var lr = options.learningRate
        var summary = TrainingSummary(reports: [], epochs: options.epochs, seconds: 0, compileSeconds: compiled.compileSeconds,
                                      checkpoint: options.save)
        if let best = monitorState?.best, let file = options.saveBest { summary.bestCheckpoint = (file, best.epoch) }
        let runStart = DispatchTime.now().uptimeNanoseconds
        var xBatch = [Double](repeating: 0, count: batch * f)
        var labelBatch = [Int](repeating: 0, count: batch)
        var valueBatch = [Double](repeating: 0, count: batch * k)
        let labels = train.labels
        let values = train.y
        defer { if ownsTiered { tiered?.finish() } }  // stops a cc build the run no longer needs
        if let tiered {
            summary.tiering = tiered.switchedAtStep != nil ? .ccThroughout : tiered.failure != nil ? .ccFailed : .tccThroughout
        }
        let stepsLeft = (options.epochs - epochsCompleted) * steps

        let firstEpoch = epochsCompleted + 1
        while epochsCompleted < options.epochs {
            let epoch = epochsCompleted + 1
            let perm = SampleOrder.shuffled(count: n, seed: options.seed &+ UInt64(epoch))
            let start = DispatchTime.now().uptimeNanoseconds
            var sum = 0.0
            for s in 0..<steps {
                let stepStart = DispatchTime.now().uptimeNanoseconds
                if let tiered {  // a step boundary: move to the cc build once it is ready
                    if tiered.switchIfReady() {
                        compiled = tiered.current
                        summary.tiering = .switched(step: compiled.step, epoch: epoch)
                    } else if let failure = tiered.takeFailure() {
                        summary.tiering = .ccFailed
                        warn("the cc build of \(model.name) failed, so training continues on tcc (the same numbers, "
                             + "slower steps): \(failure)")
                    }
                }
                for r in 0..<batch {
                    let i = perm[s * batch + r]
                    train.copyInput(i, into: &xBatch, at: r * f)
                    if let labels { labelBatch[r] = labels[i] }
                    if let values { for j in 0..<k { valueBatch[r * k + j] = values[i * k + j] } }
                }
                try compiled.setBatch(x: xBatch, labels: labels == nil ? nil : labelBatch,
                                      values: values == nil ? nil : valueBatch)
                lr = schedule.rate(options.learningRate, epoch: epoch, step: s, steps: steps, epochs: options.epochs)
                let loss = compiled.trainStep(learningRate: lr, clipNorm: options.clipNorm)
                if !loss.isFinite {
                    throw divergence(epoch: epoch, step: s + 1, steps: steps, loss: loss)
                }
                sum += loss
                if let tiered, !tiered.buildStarted, epoch == firstEpoch && s == 0 {
                    // The first step measures the work left: the cc build starts if it can pay off.
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
                    if !tiered.startOptimisedBuild(workLeft: seconds * Double(stepsLeft - 1)) { summary.tiering = .tooShort }
                }
                if let started = compileStart {
                    summary.firstStepSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                    compileStart = nil
                }
                if let onStep {
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    onStep(StepProgress(epoch: epoch, epochs: options.epochs, step: s + 1, steps: steps,
                                        runningLoss: sum / Double(s + 1),
                                        samplesPerSecond: Double((s + 1) * batch) / max(seconds, 1e-9)))
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let trainLoss = sum / Double(steps)
            if compiled.parameters.contains(where: { !$0.isFinite }) {
                throw divergence(epoch: epoch, step: steps, steps: steps, loss: trainLoss)
            }
            let validation = try data.validation.map { try Evaluation.evaluate(compiled, on: $0) }
            epochsCompleted = epoch
            var improved = false
            if var state = monitorState, let v = validation, let value = state.metric.value(v) {
                improved = state.observe(value, epoch: epoch)
                monitorState = state
            }
            if let save = options.save {
                try checkpoint.write(to: save)
                lastGood = (save, epoch)
            }
            if improved, let best = options.saveBest {
                try checkpoint.write(to: best)
                summary.bestCheckpoint = (best, epoch)
            }
            let report = EpochReport(epoch: epoch, epochs: options.epochs, trainLoss: trainLoss, validation: validation,
                                     samplesPerSecond: Double(steps * batch) / max(seconds, 1e-9), steps: steps,
                                     learningRate: schedule.varies ? lr : nil)
            summary.reports.append(report)
            if let v = validation {
                if summary.bestLoss.map({ v.loss < $0.metrics.loss }) ?? true {
                    summary.bestLoss = (epoch, v)
                }
                if let acc = v.accuracy, summary.bestAccuracy?.metrics.accuracy.map({ acc > $0 }) ?? true {
                    summary.bestAccuracy = (epoch, v)
                }
            }
            try onEpoch?(report)
            if let state = monitorState, state.exhausted, epoch < options.epochs {
                summary.stoppedEarly = state.stopReason
                break
            }
        }
        summary.seconds = Double(DispatchTime.now().uptimeNanoseconds - runStart) / 1e9
        return summary
    }

    private func divergence(epoch: Int, step: Int, steps: Int, loss: Double) -> TrainingError {
        .diverged(epoch: epoch, step: step, steps: steps, loss: loss, learningRate: options.learningRate,
                  checkpoint: lastGood?.file.path, checkpointEpoch: lastGood?.epoch,
                  inputScale: data.standardizer == nil ? data.train.largestMagnitude() : nil)
    }
}

extension Checkpoint {
    /// The checkpoint of a training run's state, as `nngen train --save` writes it (the library's
    /// `ModelTrainer` writes the same bytes): `model` with the run's learning rate, the compiled
    /// model's parameters, optimizer state and step, `epoch`, the standardizer, seed and split;
    /// the schedule when it varies, the clipping norm, and the monitor once it has a best epoch.
    public init(training model: Model, compiled: CompiledModel, options: TrainingOptions, epoch: Int,
                standardizer: Standardizer?, monitor: MonitorState?) {
        var model = model
        model.optimizer = model.optimizer.with(learningRate: options.learningRate)
        self.init(model: model, scalar: options.scalar, parameters: compiled.parameters,
                  optimizerState: compiled.optimizerState, step: compiled.step, epoch: epoch,
                  standardizer: standardizer, seed: options.seed, validationSplit: options.validationSplit,
                  learningRate: options.learningRate, schedule: options.schedule.varies ? options.schedule : nil,
                  clipNorm: options.clipNorm, monitor: monitor?.best == nil ? nil : monitor)
    }
}

/// A `--log` or `--plot` write that failed after an epoch: its message, and that the epoch's
/// checkpoint is saved when the run saves one (`nngen train` exits 1 with it).
public struct TrainingRecordError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The message.
    public var message: String
    /// The message.
    public var description: String { message }
}

extension Trainer {
    /// `run` with the `--log` and `--plot` files of `recorder` (when given) rewritten after every
    /// epoch, after `onEpoch`: the one epoch loop of `nngen train` and of the library's
    /// `ModelTrainer.fit`. A failed write stops the run with `TrainingRecordError`, whose message
    /// names `checkpointName` (the `--save` path as given; default `options.save`) as saved.
    @discardableResult
    public func run(recorder: TrainingRecorder?, checkpointName: String? = nil, onStep: ((StepProgress) -> Void)? = nil,
                    onEpoch: ((EpochReport) throws -> Void)? = nil) throws -> TrainingSummary {
        let saved = checkpointName ?? options.save?.path
        let base = options.learningRate
        recorder?.begin()
        return try run(onStep: onStep, onEpoch: { report in
            try onEpoch?(report)
            guard let recorder else { return }
            do {
                try recorder.record(report, learningRate: report.learningRate ?? base)
            } catch {
                throw TrainingRecordError(message: "\(error)"
                                          + (saved.map { "; the checkpoint \($0) (epoch \(report.epoch)) is saved" } ?? ""))
            }
        })
    }
}

extension CompiledModel {
    /// Takes a checkpoint's parameters, optimizer state and step, after checking their sizes
    /// against the model.
    public func restore(_ checkpoint: Checkpoint) throws {
        guard checkpoint.parameters.count == analysis.parameterCount else {
            throw CheckpointError.sizeMismatch(what: "checkpoint parameters", expected: analysis.parameterCount,
                                               found: checkpoint.parameters.count)
        }
        guard checkpoint.optimizerState.count == analysis.optimizerStateElements else {
            throw CheckpointError.sizeMismatch(what: "checkpoint optimizer state", expected: analysis.optimizerStateElements,
                                               found: checkpoint.optimizerState.count)
        }
        parameters = checkpoint.parameters
        optimizerState = checkpoint.optimizerState
        step = checkpoint.step
    }
}
