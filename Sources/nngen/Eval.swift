import ArgumentParser
import Foundation
import ModelSpec
import NNGenKit

/// `nngen eval MODEL --params CKPT --data FILE`: loss and accuracy, or MSE and R^2.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate trained parameters on a labelled data file.",
        discussion: """
        Prints the loss and, for classification, the accuracy (argmax for softmax_cross_entropy, \
        logit > 0 against target >= 0.5 for bce_with_logits); for mse models the MSE and R^2 \
        (1 - SS_res / SS_tot, averaged over outputs). The checkpoint's standardizer is applied \
        first. Uses every row of the file (no split).
        """)

    @Argument(help: "The model file (JSON).")
    var model: String

    @Option(help: ArgumentHelp("The checkpoint (nngen train --save) or parameters file (nngen init).", valueName: "ckpt"))
    var params: String

    @Option(help: ArgumentHelp("The labelled data file (.csv or .safetensors).", valueName: "file"))
    var data: String

    @Option(help: "Back end: tcc or cc.")
    var backend: SingleBackendChoice = .tcc

    func run() throws {
        let analysis = try loadModel(model)
        let prepared = try PreparedPrediction(analysis: analysis, params: params, data: data, backend: backend)
        guard let targets = prepared.targets else {
            throw UserError("\(data) holds no targets (only the \(analysis.model.input.shape.elementCount) input columns); "
                            + "eval needs labelled rows. Use nngen predict for unlabelled data")
        }
        let outputs = try Evaluation.predict(prepared.compiled, x: prepared.x, count: prepared.count)
        let m = Evaluation.metrics(outputs: outputs, outputsPerSample: analysis.outputCount, targets: targets,
                                   loss: analysis.model.loss)
        print(evalText(m, analysis: analysis, data: data))
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
