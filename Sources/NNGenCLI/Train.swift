import ArgumentParser
import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The back end of training, prediction and evaluation: auto (tcc at once, then the cc build
/// once it is ready; the default), tcc or cc.
enum SingleBackendChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, tcc, cc

    /// What to compile with, `--threads` applied to the cc build.
    func selection(threads: Int = 1) throws -> BackendSelection { try backendSelection(rawValue, threads: threads) }
}

/// The optimizer types `--optimizer` may choose.
enum OptimizerChoice: String, ExpressibleByArgument, CaseIterable {
    case sgd, adam, adamw
}

/// `nngen train [MODEL]`: JIT-compiles the model and trains it on a data file.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on a CSV or safetensors data file with JIT-compiled C.",
        discussion: """
        Without arguments, trains the built-in digits MLP (examples/digits_mlp.json) on \
        examples/data/digits.csv, found upward from the nngen executable or the current directory.

        The data (docs/TRAINING.md): a CSV row holds the model's input values, then the label \
        (softmax_cross_entropy) or the last `outputs` columns as targets; a .safetensors file holds \
        x and y. The samples are shuffled with --seed and the last round(n * --val-split) of that \
        order are held out for validation. With "standardize": true in the model (or --standardize) \
        each input value is standardised with the mean and std of the training part. Every epoch e \
        takes the training part in a fresh order seeded seed + e, in batches of the model's batch \
        size; the last partial batch (n_train mod batch samples, different ones each epoch) is \
        dropped.

        After each epoch one line: epoch e/N, train_loss (the mean of the batch losses), val_loss \
        and val_acc (classification) over the validation part, training samples/s. On a terminal a \
        progress bar is drawn while an epoch runs. A NaN or infinite loss stops training (exit 1) \
        and keeps the last good checkpoint.

        --backend auto (the default) starts at once on the tcc build; when the first step shows \
        enough work left, the cc build compiles on another thread and training moves to it at a \
        step boundary, with the same numbers. The summary's back end line says when (or why not).

        --save writes a checkpoint (safetensors: parameters, optimizer state, step, epoch, \
        standardizer, model JSON) atomically at the end of every epoch. --resume continues from \
        one at the next epoch with its seed, split and dtype; --epochs is the total, so N epochs \
        then --resume to 2N give the same parameters bit for bit as 2N epochs straight (same \
        back end). A resumed run may change --lr but not the model.

        Schedules, clipping, best checkpoint, early stopping (docs/TRAINING.md): --schedule step|cosine|\
        onecycle with --warmup E (linear, step by step over the first E epochs), --step-size and \
        --gamma (step, per epoch), --lr-min (cosine's floor, per epoch); onecycle changes the rate \
        every step. The epoch line then shows the rate of its last step. --clip-norm X clips the \
        gradients to global L2 norm X before every update (in the generated code). --save-best \
        BEST writes the checkpoint of the best epoch by --monitor (val_loss or val_acc); \
        --patience N stops after N epochs without an improvement larger than --min-delta. Each \
        is saved in the checkpoint, so --resume continues them; a resumed run may change them.
        """)

    @Argument(help: "The model file (JSON). Default: the built-in digits MLP.")
    var model: String?

    @Option(help: ArgumentHelp("The data file (.csv or .safetensors). Default with no MODEL: examples/data/digits.csv.",
                               valueName: "file"))
    var data: String?

    @Option(parsing: .unconditional, help: "The total number of epochs (default \(TrainingDefaults.epochs)).")
    var epochs: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("The learning rate (default: the model's optimizer lr; when resuming, the checkpoint's).", valueName: "x"))
    var lr: Double?

    @Option(help: "Replace the model's optimizer type, keeping its lr.")
    var optimizer: OptimizerChoice?

    @Option(help: backendHelp)
    var backend: SingleBackendChoice = .auto

    @Option(help: "Scalar type: f32 or f64 (default f32; a resumed run keeps the checkpoint's).")
    var dtype: ScalarType?

    @Option(parsing: .unconditional, help: "Seed of the split, the epoch orders and the initial parameters (default \(TrainingDefaults.seed)).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: ArgumentHelp("Fraction of the samples held out for validation, in [0, 1) (default \(TrainingDefaults.validationSplit)); 0 trains on all.",
                               valueName: "f"))
    var valSplit: Double?

    @Flag(help: "Standardise the inputs even if the model does not ask for it.")
    var standardize = false

    @Option(help: ArgumentHelp("Save a checkpoint here at the end of every epoch (atomic).", valueName: "ckpt"))
    var save: String?

    @Option(help: ArgumentHelp("Resume from this checkpoint (it carries its model: MODEL may be left out); --epochs is the total number of epochs.", valueName: "ckpt"))
    var resume: String?

    // Training features (issue 11, part A): best checkpoint, early stopping, schedules, clipping,
    // batch and threads. Kept together; `featureFlags` turns them into NNGenKit's options.

    @Option(help: ArgumentHelp("Also save the checkpoint of the best epoch by --monitor here (atomic).", valueName: "ckpt"))
    var saveBest: String?

    @Option(help: ArgumentHelp("The metric --save-best and --patience watch: val_loss (default) or val_acc.", valueName: "metric"))
    var monitor: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after N epochs without improvement of --monitor (N >= 0).", valueName: "n"))
    var patience: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("An improvement must exceed this (default 0).", valueName: "d"))
    var minDelta: Double?

    @Option(help: ArgumentHelp("Learning-rate schedule: constant (default), step, cosine or onecycle.", valueName: "name"))
    var schedule: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Linear warm-up over the first E epochs, step by step (E < --epochs).", valueName: "e"))
    var warmup: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("step: epochs between two decays (default 10).", valueName: "e"))
    var stepSize: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("step: the decay factor, in (0, 1] (default 0.1).", valueName: "g"))
    var gamma: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("cosine: the floor, 0 <= X <= --lr (default 0).", valueName: "x"))
    var lrMin: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Clip the gradients to this global L2 norm before every update.", valueName: "x"))
    var clipNorm: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Train with this batch size instead of the model's (the code is generated for it).", valueName: "n"))
    var batch: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Threads for the big products (cc back end only, or auto once it runs the cc build; same results for any N).", valueName: "n"))
    var threads: Int = 1

    /// The training-feature flags, checked one by one (exit 2 naming the flag and its range).
    func featureFlags() throws -> TrainingFeatureFlags {
        var kind: LearningRateSchedule.Kind?
        if let schedule {
            guard let k = LearningRateSchedule.Kind(rawValue: schedule) else {
                throw ValidationError("--schedule must be one of constant, step, cosine, onecycle (got '\(schedule)')")
            }
            kind = k
        }
        var metric: MonitoredMetric?
        if let monitor {
            guard let m = MonitoredMetric(rawValue: monitor) else {
                throw ValidationError("--monitor must be val_loss or val_acc (got '\(monitor)')")
            }
            metric = m
        }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        guard threads >= 1 else { throw ValidationError("--threads must be 1 or more (got \(threads))") }
        guard backend != .tcc || threads == 1 else {
            throw ValidationError("--threads \(threads) needs --backend cc or auto (tcc has no OpenMP)")
        }
        let flags = TrainingFeatureFlags(schedule: kind, warmup: warmup, stepSize: stepSize, gamma: gamma, lrMin: lrMin,
                                         clipNorm: clipNorm, saveBest: saveBest.map { URL(fileURLWithPath: $0) },
                                         monitor: metric, minDelta: minDelta, patience: patience)
        if let problem = flags.problem { throw ValidationError(problem) }
        return flags
    }
    @Option(help: ArgumentHelp("Write one row of metrics per epoch here: .csv or .jsonl (epoch, lr, train_loss, val_loss, val_acc or val_r2, samples_per_s, wall_s).", valueName: "file"))
    var log: String?

    @Option(help: ArgumentHelp("Draw the train/validation loss and the validation metric per epoch here, as SVG (redrawn after every epoch).", valueName: "file.svg"))
    var plot: String?
    // Fine-tuning (docs/TRAINING.md "Fine-tuning"): --freeze, --train-only, --init, --init-partial.
    @OptionGroup var trainable: TrainableOptions

    @Option(name: .customLong("init"), help: ArgumentHelp(
        "Start from the parameters of this safetensors file, by name (nngen's or PyTorch nn.Sequential's).", valueName: "file"))
    var initFile: String?

    @Flag(name: .customLong("init-partial"), help: "With --init: parameters the file lacks keep their seeded values.")
    var initPartial = false

    func validate() throws {
        if model != nil && data == nil {
            throw ValidationError("--data FILE is required with a MODEL (the default data examples/data/digits.csv goes with "
                                  + "the built-in model only): add --data FILE")
        }
        if let problem = TrainingRecorder.extensionProblem(log: log, plot: plot) { throw ValidationError(problem) }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
        if let lr, !(lr.isFinite && lr > 0) { throw ValidationError("--lr must be positive (got \(formatLR(lr)))") }
        if let valSplit, !(valSplit >= 0 && valSplit < 1) {
            throw ValidationError("--val-split must be at least 0 and below 1 (got \(formatLR(valSplit)))")
        }
        _ = try featureFlags()
        if initFile != nil && resume != nil {
            throw ValidationError("--init and --resume cannot be combined: a resumed run takes its parameters from the checkpoint")
        }
        if initPartial && initFile == nil { throw ValidationError("--init-partial needs --init FILE") }
    }

    func run() throws {
        // The model, with --optimizer and --standardize applied.
        var spec: Model
        let modelSource: String
        // Resuming: the checkpoint decides seed, split and dtype, and carries its model.
        let checkpoint = try resume.map { try Checkpoint.read(from: URL(fileURLWithPath: $0)) }
        if model == nil, let checkpoint, let resume {
            spec = checkpoint.model
            modelSource = resume
        } else if let model {
            spec = try Model.load(from: URL(fileURLWithPath: model))
            modelSource = model
        } else {
            spec = try Model.decode(Data(TrainingDefaults.modelJSON.utf8), source: TrainingDefaults.modelSource)
            modelSource = TrainingDefaults.modelSource
        }
        if let optimizer, optimizer.rawValue != spec.optimizer.typeName {
            let lr = spec.optimizer.learningRate
            switch optimizer {
            case .sgd: spec.optimizer = .sgd(lr: lr)
            case .adam: spec.optimizer = .adam(lr: lr)
            case .adamw: spec.optimizer = .adamw(lr: lr)
            }
        }
        if standardize { spec.standardize = true }
        if let batch { spec.batch = batch }
        spec = try trainable.apply(to: spec, file: modelSource)
        let analysis = try spec.analyze(file: modelSource)

        let epochs = self.epochs ?? TrainingDefaults.epochs
        let options = try TrainingOptions.resolving(epochs: epochs, learningRate: lr, seed: seed, validationSplit: valSplit,
                                                    scalar: dtype, save: save.map { URL(fileURLWithPath: $0) },
                                                    model: spec, resuming: checkpoint, checkpointFile: resume ?? "")
            .applying(try featureFlags(), resuming: checkpoint)
        if let problem = options.featureProblem(analysis) { throw ValidationError(problem) }
        // Before any data is read: --lr must hold in the dtype; the checkpoint must be writable
        // where --save says. (The model's constants are checked against the dtype, with the
        // file named, by Trainer before it compiles anything.)
        if let lr, let problem = options.scalar.literalProblem(lr, field: "--lr") {
            throw ValidationError(problem)
        }
        if let save { try SafetensorsFile.checkWritable(URL(fileURLWithPath: save)) }
        if let saveBest { try SafetensorsFile.checkWritable(URL(fileURLWithPath: saveBest)) }
        let recorder = try TrainingRecorder(log: log.map { URL(fileURLWithPath: $0) }, plot: plot.map { URL(fileURLWithPath: $0) },
                                            loss: spec.loss)
        if let ck = checkpoint, ck.epoch >= epochs {
            print("\(resume ?? "the checkpoint") already holds \(ck.epoch) epochs; --epochs \(epochs) is the total, so there is "
                  + "nothing to train (pass a larger --epochs to continue)")
            return
        }

        // The data.
        let dataURL: URL
        if let data {
            dataURL = URL(fileURLWithPath: data)
        } else if model == nil && (checkpoint == nil || checkpoint?.model.jsonString == (try? Model.decode(Data(TrainingDefaults.modelJSON.utf8), source: "")).map(\.jsonString)) {
            dataURL = try TrainingDefaults.locateData()
        } else {
            throw UsageError("--data FILE is required " + (model != nil ? "with a MODEL" : "to resume \(spec.name)")
                                  + " (the default data examples/data/digits.csv goes with the built-in model only): "
                                  + "add --data FILE")
        }
        let dataset: Dataset
        do {
            dataset = try ModelData.load(dataURL, for: analysis)
        } catch where model == nil && checkpoint == nil && data != nil {
            throw UserError("\(error)\nMODEL was omitted, so the built-in \(spec.name) (\(spec.input.shape.elementCount) inputs, "
                            + "\(analysis.outputCount) classes) was used; give the MODEL file that fits \(dataURL.path) "
                            + "(nngen train MODEL --data \(dataURL.path))")
        }

        let trainer = try Trainer(analysis: analysis, dataset: dataset, options: options,
                                  selection: try backend.selection(threads: threads),
                                  resume: checkpoint, resumeFile: resume.map { URL(fileURLWithPath: $0) })
        let initLine = try initFile.map { file -> String in
            let r = try trainer.compiled.loadInitialParameters(from: URL(fileURLWithPath: file), partial: initPartial)
            return "  initial parameters: \(r.loaded.count) tensors from \(file)"
                + (r.missing.isEmpty ? "" : "; \(r.missing.count) keep their seeded values (\(r.missing.joined(separator: ", ")))")
        }
        let batch = spec.batch
        let nTrain = trainer.data.train.count
        let dropped = nTrain % batch
        print("training \(spec.name) (\(ModelSummary.grouped(analysis.parameterCount)) parameters, "
              + "\(spec.optimizer.typeName) lr \(formatLR(options.learningRate)), \(options.scalar.rawValue), \(backend.rawValue), "
              + "compiled in \(String(format: "%.0f", trainer.compiled.compileSeconds * 1000)) ms) on \(data ?? dataURL.path)")
        print("  \(nTrain) training + \(trainer.data.validation?.count ?? 0) validation samples, seed \(options.seed); "
              + "\(nTrain / batch) steps of \(batch) per epoch"
              + (dropped > 0 ? " (the last \(dropped) samples of each epoch's order are dropped)" : "")
              + (checkpoint.map { "; resuming after epoch \($0.epoch)" } ?? ""))
        if let initLine { print(initLine) }
        if analysis.hasFrozenParameters {
            print("  training \(ModelSummary.grouped(analysis.gradientCount)) of \(ModelSummary.grouped(analysis.parameterCount)) "
                  + "parameters; frozen: " + analysis.parameters.filter { !$0.trainable }.map(\.name).joined(separator: ", "))
        }
        flushStdout()

        let terminal = isatty(STDOUT_FILENO) == 1
        let bar = ProgressBar()
        let summary: TrainingSummary
        do {
            summary = try trainer.run(
                recorder: recorder, checkpointName: save,
                onStep: terminal ? { bar.update($0) } : nil,
                onEpoch: { report in
                    if terminal { bar.clear() }
                    print(report.line)
                    flushStdout()
                })
        } catch let error as TrainingRecordError {
            throw UserError(error.message)
        } catch {
            if terminal { bar.clear() }
            throw error
        }
        print(summaryText(summary, loss: spec.loss))
        if let log { print("  log:           \(log) (\(recorder.log.rows.count) epochs)") }
        if let plot { print("  plot:          \(plot)") }
    }

    private func summaryText(_ s: TrainingSummary, loss: Loss) -> String {
        var lines = ["done: \(s.reports.count) epoch\(s.reports.count == 1 ? "" : "s") in "
                     + String(format: "%.2f s", s.seconds) + " (compile " + String(format: "%.0f ms", s.compileSeconds * 1000) + ")"]
        func metrics(_ m: EvaluationMetrics) -> String {
            var t = "val_loss " + String(format: "%.6f", m.loss)
            if let a = m.accuracy { t += "  val_acc " + String(format: "%.2f%%", a * 100) }
            if loss.targets == .values, let r2 = m.r2 { t += "  val_r2 " + String(format: "%.4f", r2) }
            return t
        }
        if let best = s.bestLoss {
            lines.append("  best val_loss: epoch \(best.epoch): " + metrics(best.metrics))
        }
        if let best = s.bestAccuracy {
            lines.append("  best val_acc:  epoch \(best.epoch): " + metrics(best.metrics))
        }
        if let last = s.final {
            var t = "  final:         epoch \(last.epoch): train_loss " + String(format: "%.6f", last.trainLoss)
            if let v = last.validation { t += "  " + metrics(v) }
            lines.append(t)
        }
        if let tiering = s.tiering {
            lines.append("  back end:      " + (s.firstStepSeconds.map { String(format: "first step on tcc %.0f ms after compiling began; ", $0 * 1000) } ?? "")
                         + tiering.text)
        }
        if let ck = s.checkpoint {
            lines.append("  checkpoint:    \(save ?? ck.path) (epoch \(s.final?.epoch ?? 0))")
        } else {
            lines.append("  checkpoint:    none (pass --save FILE to keep the trained parameters)")
        }
        if let best = s.bestCheckpoint {
            lines.append("  best checkpoint: \(saveBest ?? best.file.path) (epoch \(best.epoch))")
        }
        if let why = s.stoppedEarly {
            lines.append("  stopped early after epoch \(s.final?.epoch ?? 0): \(why)")
        }
        return lines.joined(separator: "\n")
    }
}

/// A learning rate as typed: `0.002`, `1e-05`.
func formatLR(_ x: Double) -> String { ModelSummary.number(x) }

/// Flushes stdout so that lines appear when the output is a pipe.
func flushStdout() { fflush(nil) }

/// The per-epoch progress bar on a terminal, redrawn in place with `\r` at most ten times a second.
final class ProgressBar {
    private var lastDraw: UInt64 = 0
    private var drawn = false

    func update(_ p: StepProgress) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard p.step == p.steps || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let width = 30
        let filled = p.steps > 0 ? width * p.step / p.steps : width
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let text = "epoch \(p.epoch)/\(p.epochs) [\(bar)] \(p.step)/\(p.steps)  "
            + String(format: "%.0f samples/s  loss %.6f", p.samplesPerSecond, p.runningLoss)
        FileHandle.standardOutput.write(Data(("\r" + text + "\u{1B}[K").utf8))
        drawn = true
    }

    func clear() {
        guard drawn else { return }
        FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}
