import ArgumentParser
import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit

/// `nngen predict MODEL --params CKPT --data FILE`: the model's outputs for every row, as CSV.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the model's outputs for every row of a data file, as CSV.",
        discussion: """
        Rows may hold the input values only, or the inputs and the targets (which are ignored). \
        The checkpoint's standardizer is applied first (a parameters-only file from nngen init has \
        none). Columns: logit_0..logit_{k-1} and class (argmax, first maximum) for \
        softmax_cross_entropy; logit_j and class_j (logit > 0 means 1) for bce_with_logits; \
        output_j for mse. Computed by the compiled NAME_predict in the parameters' dtype.
        """)

    @Argument(help: "The model file (JSON).")
    var model: String

    @Option(help: ArgumentHelp("The checkpoint (nngen train --save) or parameters file (nngen init).", valueName: "ckpt"))
    var params: String

    @Option(help: ArgumentHelp("The data file (.csv or .safetensors).", valueName: "file"))
    var data: String

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the CSV here instead of stdout.", valueName: "out.csv"))
    var output: String?

    @Option(help: "Back end: tcc or cc.")
    var backend: SingleBackendChoice = .tcc

    func run() throws {
        let analysis = try loadModel(model)
        let prepared = try PreparedPrediction(analysis: analysis, params: params, data: data, backend: backend)
        let outputs = try Evaluation.predict(prepared.compiled, x: prepared.x, count: prepared.count)
        let text = predictionCSV(outputs, analysis: analysis, scalar: prepared.compiled.scalar)
        if let output {
            try writeText(text, to: URL(fileURLWithPath: output))
            FileHandle.standardError.write(Data("wrote \(prepared.count) rows to \(output)\n".utf8))
        } else {
            print(text, terminator: "")
        }
    }
}

/// The CSV `nngen predict` writes: a header row, then one row per sample.
func predictionCSV(_ outputs: [Double], analysis: ModelAnalysis, scalar: ScalarType) -> String {
    let k = analysis.outputCount
    let n = k > 0 ? outputs.count / k : 0
    func number(_ v: Double) -> String { scalar == .f32 ? "\(Float(v))" : "\(v)" }
    var header: [String]
    switch analysis.model.loss.targets {
    case .labels: header = (0..<k).map { "logit_\($0)" } + ["class"]
    case .binary: header = (0..<k).map { "logit_\($0)" } + (k == 1 ? ["class"] : (0..<k).map { "class_\($0)" })
    case .values: header = (0..<k).map { "output_\($0)" }
    }
    var lines = [header.joined(separator: ",")]
    lines.reserveCapacity(n + 1)
    for i in 0..<n {
        let z = outputs[(i * k)..<((i + 1) * k)]
        var fields = z.map(number)
        switch analysis.model.loss.targets {
        case .labels:
            var best = z.startIndex
            for j in z.indices where z[j] > z[best] { best = j }
            fields.append(String(best - z.startIndex))
        case .binary: fields += z.map { $0 > 0 ? "1" : "0" }
        case .values: break
        }
        lines.append(fields.joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
}

/// The compiled model with the file's parameters, and the data's inputs standardised as the
/// parameters' file says; shared by predict and eval.
struct PreparedPrediction {
    let compiled: CompiledModel
    let x: [Double]
    let count: Int
    let targets: DatasetTargets?

    init(analysis: ModelAnalysis, params: String, data: String, backend: SingleBackendChoice) throws {
        let file = try ParameterFile.read(from: URL(fileURLWithPath: params), for: analysis)
        try analysis.validate(for: file.scalar)
        let inputs = try ModelData.loadInputs(URL(fileURLWithPath: data), for: analysis)
        var x = inputs.x
        if let s = file.standardizer {
            let f = s.features
            for i in 0..<inputs.count {
                for j in 0..<f { x[i * f + j] = Standardizer.standardized(x[i * f + j], mean: s.mean[j], std: s.std[j]) }
            }
        } else if analysis.model.standardize {
            FileHandle.standardError.write(Data("note: \(params) holds no standardizer; the inputs are used as they are\n".utf8))
        }
        compiled = try CompiledModel(analysis: analysis, backend: backend.backend, scalar: file.scalar)
        compiled.parameters = file.parameters
        self.x = x
        count = inputs.count
        targets = inputs.targets
    }
}
