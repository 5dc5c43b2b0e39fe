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

/// One back end on the command line (training, prediction, evaluation).
enum SingleBackendChoice: String, ExpressibleByArgument, CaseIterable {
    case tcc, cc

    var backend: any CBackend { self == .tcc ? TCCBackend() : CCBackend() }
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

        --save writes a checkpoint (safetensors: parameters, optimizer state, step, epoch, \
        standardizer, model JSON) atomically at the end of every epoch. --resume continues from \
        one at the next epoch with its seed, split and dtype; --epochs is the total, so N epochs \
        then --resume to 2N give the same parameters bit for bit as 2N epochs straight (same \
        back end). A resumed run may change --lr but not the model.
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

    @Option(help: "Back end: tcc (fast compile) or cc (optimised).")
    var backend: SingleBackendChoice = .tcc

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

    @Option(help: ArgumentHelp("Resume from this checkpoint; --epochs is the total number of epochs.", valueName: "ckpt"))
    var resume: String?

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
        if let lr, !(lr.isFinite && lr > 0) { throw ValidationError("--lr must be positive (got \(formatLR(lr)))") }
        if let valSplit, !(valSplit >= 0 && valSplit < 1) {
            throw ValidationError("--val-split must be at least 0 and below 1 (got \(formatLR(valSplit)))")
        }
    }

    func run() throws {
        // The model, with --optimizer and --standardize applied.
        var spec: Model
        let modelSource: String
        if let model {
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
        let analysis = try spec.analyze(file: modelSource)

        // Resuming: the checkpoint decides seed, split and dtype.
        let checkpoint = try resume.map { try Checkpoint.read(from: URL(fileURLWithPath: $0)) }
        let epochs = self.epochs ?? TrainingDefaults.epochs
        let options = try TrainingOptions.resolving(epochs: epochs, learningRate: lr, seed: seed, validationSplit: valSplit,
                                                    scalar: dtype, save: save.map { URL(fileURLWithPath: $0) },
                                                    model: spec, resuming: checkpoint, checkpointFile: resume ?? "")
        // Before any data is read: --lr must hold in the dtype; the checkpoint must be writable
        // where --save says. (The model's constants are checked against the dtype, with the
        // file named, by Trainer before it compiles anything.)
        if let lr, let problem = options.scalar.literalProblem(lr, field: "--lr") {
            throw ValidationError(problem)
        }
        if let save { try SafetensorsFile.checkWritable(URL(fileURLWithPath: save)) }
        if let ck = checkpoint, ck.epoch >= epochs {
            print("\(resume ?? "the checkpoint") already holds \(ck.epoch) epochs; --epochs \(epochs) is the total, so there is "
                  + "nothing to train (pass a larger --epochs to continue)")
            return
        }

        // The data.
        let dataURL: URL
        if let data {
            dataURL = URL(fileURLWithPath: data)
        } else if model == nil {
            dataURL = try TrainingDefaults.locateData()
        } else {
            throw UserError("--data FILE is required with a MODEL (the default data examples/data/digits.csv goes with "
                            + "the built-in model only)")
        }
        let dataset = try ModelData.load(dataURL, for: analysis)

        let trainer = try Trainer(analysis: analysis, dataset: dataset, options: options, backend: backend.backend,
                                  resume: checkpoint, resumeFile: resume.map { URL(fileURLWithPath: $0) })
        let batch = spec.batch
        let nTrain = trainer.data.train.count
        let dropped = nTrain % batch
        print("training \(spec.name) (\(ModelSummary.grouped(analysis.parameterCount)) parameters, "
              + "\(spec.optimizer.typeName) lr \(formatLR(options.learningRate)), \(options.scalar.rawValue), \(backend.rawValue), "
              + "compiled in \(String(format: "%.0f", trainer.compiled.compileSeconds * 1000)) ms) on \(dataURL.path)")
        print("  \(nTrain) training + \(trainer.data.validation?.count ?? 0) validation samples, seed \(options.seed); "
              + "\(nTrain / batch) steps of \(batch) per epoch"
              + (dropped > 0 ? " (the last \(dropped) samples of each epoch's order are dropped)" : "")
              + (checkpoint.map { "; resuming after epoch \($0.epoch)" } ?? ""))
        flushStdout()

        let terminal = isatty(STDOUT_FILENO) == 1
        let bar = ProgressBar()
        let summary: TrainingSummary
        do {
            summary = try trainer.run(
                onStep: terminal ? { bar.update($0) } : nil,
                onEpoch: { report in
                    if terminal { bar.clear() }
                    print(report.line)
                    flushStdout()
                })
        } catch {
            if terminal { bar.clear() }
            throw error
        }
        print(summaryText(summary, loss: spec.loss))
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
        if let ck = s.checkpoint {
            lines.append("  checkpoint:    \(ck.path) (epoch \(s.final?.epoch ?? 0))")
        } else {
            lines.append("  checkpoint:    none (pass --save FILE to keep the trained parameters)")
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
