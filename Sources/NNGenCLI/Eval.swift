import ArgumentParser
import DataIO
import Foundation
import ModelSpec
import NNGenKit

/// `nngen eval [MODEL] --params CKPT --data FILE` (or `nngen eval CKPT --data FILE`): loss and
/// accuracy, or MSE and R^2, on every row or on the held-out part of training's split.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate trained parameters on a labelled data file.",
        discussion: """
        Prints the loss and, for classification, the accuracy (argmax for softmax_cross_entropy, \
        logit > 0 against target >= 0.5 for bce_with_logits); for mse models the MSE and R^2 \
        (1 - SS_res / SS_tot, averaged over outputs). The checkpoint's standardizer is applied \
        first. A checkpoint carries its model: MODEL may be left out (nngen eval CKPT --data FILE); \
        a MODEL given anyway must match it.

        Uses every row of the file, unless --held-out (or --val-split/--seed) asks for the \
        validation part of a split made exactly as nngen train makes it: the samples shuffled with \
        the seed, the last round(n * fraction) of that order. A checkpoint remembers the fraction \
        and seed it was trained with, so `nngen eval CKPT --data FILE --held-out` scores the very \
        samples training validated on (the same numbers as its last epoch line).
        """)

    @Argument(help: "The model file (JSON), or a checkpoint (.safetensors), which carries its model.")
    var model: String?

    @Option(help: ArgumentHelp("The checkpoint (nngen train --save) or parameters file (nngen init).", valueName: "ckpt"))
    var params: String?

    @Option(help: ArgumentHelp("The labelled data file (.csv or .safetensors).", valueName: "file"))
    var data: String

    @Flag(help: "Score only the held-out part of the split the checkpoint was trained with.")
    var heldOut = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Score the held-out part of this split: a fraction in (0, 1) (default: the checkpoint's).", valueName: "f"))
    var valSplit: Double?

    @Option(parsing: .unconditional, help: "The seed of that split (default: the checkpoint's; \(TrainingDefaults.seed) for a parameters file).")
    var seed: UInt64?

    @Option(help: backendHelp)
    var backend: SingleBackendChoice = .auto

    func validate() throws {
        try checkParamsGiven(model, params)
        if let valSplit, !(valSplit > 0 && valSplit < 1) {
            throw ValidationError("--val-split must be above 0 and below 1 to leave a held-out part (got \(formatLR(valSplit)))")
        }
    }

    func run() throws {
        let (analysis, modelSource, params) = try resolveModel(model, params: params)
        var split: (fraction: Double, seed: UInt64)?
        if heldOut || valSplit != nil || seed != nil {
            let stored = try StoredRun.read(from: URL(fileURLWithPath: params))
            guard let fraction = valSplit ?? stored.validationSplit else {
                throw UsageError("\(params) is not a training checkpoint, so it remembers no split: add --val-split F")
            }
            guard fraction > 0 else {
                throw UsageError("\(params) was trained with --val-split 0: there is no held-out part (use the "
                                      + "whole file: leave out --held-out)")
            }
            split = (fraction, seed ?? stored.seed ?? TrainingDefaults.seed)
        }
        let prepared = try PreparedPrediction(analysis: analysis, model: modelSource, params: params, data: data,
                                              backend: backend, heldOut: split)
        guard let targets = prepared.targets else {
            throw UserError("\(data) holds no targets (only the \(analysis.model.input.shape.elementCount) input columns); "
                            + "eval needs labelled rows. Use nngen predict for unlabelled data")
        }
        let outputs = try prepared.outputs()
        let m = Evaluation.metrics(outputs: outputs, outputsPerSample: analysis.outputCount, targets: targets,
                                   loss: analysis.model.loss)
        let part = split.map { " (held out: the last \(formatLR($0.fraction)) of the order shuffled with seed \($0.seed))" } ?? ""
        print(evalText(m, analysis: analysis, data: data + part))
    }
}

/// The lines `nngen eval` prints.
func evalText(_ m: EvaluationMetrics, analysis: ModelAnalysis, data: String) -> String {
    var lines = ["\(analysis.model.name) on \(data): \(m.count) samples"]
    switch analysis.model.loss.targets {
    case .values:
        lines.append((analysis.model.loss == .mse ? "mse       " : "loss      ") + String(format: "%.6f", m.loss))
        lines.append("r2        " + (m.r2.map { String(format: "%.4f", $0) } ?? "n/a (constant targets)"))
    case .labels, .binary:
        lines.append("loss      " + String(format: "%.6f", m.loss))
        if let a = m.accuracy, let c = m.correct, let j = m.judged {
            lines.append("accuracy  " + String(format: "%.2f%%", a * 100) + " (\(c) of \(j))")
        }
    }
    return lines.joined(separator: "\n")
}
