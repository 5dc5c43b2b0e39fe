import ArgumentParser
import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit

/// `nngen predict [MODEL] --params CKPT --data FILE` (or `nngen predict CKPT --data FILE`): the
/// model's outputs for every row, as CSV.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the model's outputs for every row of a data file, as CSV.",
        discussion: """
        Rows may hold the input values only, or the inputs and the targets (which are ignored). \
        The checkpoint's standardizer is applied first (a parameters-only file from nngen init has \
        none). Columns: logit_0..logit_{k-1} and class (argmax, first maximum) for \
        softmax_cross_entropy; logit_j and class_j (logit > 0 means 1) for bce_with_logits; \
        output_j for mse. With --proba, then prob_0..prob_{k-1} (softmax) or prob_j (sigmoid). \
        Computed by the compiled NAME_predict in the parameters' dtype. A checkpoint (or an \
        nngen init file) carries its model: MODEL may be left out (nngen predict CKPT --data FILE); \
        a MODEL given anyway must match it.
        """)

    @Argument(help: "The model file (JSON), or a checkpoint (.safetensors), which carries its model.")
    var model: String?

    @Option(help: ArgumentHelp("The checkpoint (nngen train --save) or parameters file (nngen init).", valueName: "ckpt"))
    var params: String?

    @Option(help: ArgumentHelp("The data file (.csv or .safetensors).", valueName: "file"))
    var data: String

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the CSV here instead of stdout.", valueName: "out.csv"))
    var output: String?

    func validate() throws { try checkParamsGiven(model, params) }

    @Flag(help: "Also print the probabilities: softmax of the logits (softmax_cross_entropy) or sigmoid of each (bce_with_logits).")
    var proba = false

    @Option(help: backendHelp)
    var backend: SingleBackendChoice = .auto

    func run() throws {
        let (analysis, modelSource, params) = try resolveModel(model, params: params)
        if proba, analysis.model.loss.targets == .values {
            throw UsageError("--proba needs a classification model (softmax_cross_entropy or bce_with_logits); "
                                  + "\(analysis.model.name)'s loss is \(analysis.model.loss.typeName)")
        }
        let prepared = try PreparedPrediction(analysis: analysis, model: modelSource, params: params, data: data, backend: backend)
        let outputs = try prepared.outputs()
        let text = predictionCSV(outputs, analysis: analysis, scalar: prepared.compiled.scalar, probabilities: proba)
        if let output {
            try writeText(text, to: URL(fileURLWithPath: output))
            FileHandle.standardError.write(Data("wrote \(prepared.count) rows to \(output)\n".utf8))
        } else {
            print(text, terminator: "")
        }
    }
}

/// The CSV `nngen predict` writes: a header row, then one row per sample; with `probabilities`,
/// prob_j columns after the class (softmax of the logits, or the sigmoid of each).
func predictionCSV(_ outputs: [Double], analysis: ModelAnalysis, scalar: ScalarType, probabilities: Bool = false) -> String {
    let k = analysis.outputCount
    let n = k > 0 ? outputs.count / k : 0
    func number(_ v: Double) -> String { scalar == .f32 ? "\(Float(v))" : "\(v)" }
    var header: [String]
    switch analysis.model.loss.targets {
    case .labels: header = (0..<k).map { "logit_\($0)" } + ["class"]
    case .binary: header = (0..<k).map { "logit_\($0)" } + (k == 1 ? ["class"] : (0..<k).map { "class_\($0)" })
    case .values: header = (0..<k).map { "output_\($0)" }
    }
    let proba = probabilities && analysis.model.loss.targets != .values
    if proba { header += (0..<k).map { "prob_\($0)" } }
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
        if proba {
            fields += (analysis.model.loss.targets == .labels ? softmax(Array(z)) : z.map { 1 / (1 + exp(-$0)) })
                .map { String(format: "%.6f", $0) }
        }
        lines.append(fields.joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
}

/// The softmax of `z`, in double (the largest logit subtracted first).
func softmax(_ z: [Double]) -> [Double] {
    let m = z.max() ?? 0
    let e = z.map { exp($0 - m) }
    let sum = e.reduce(0, +)
    return e.map { $0 / sum }
}

/// A usage error unless the parameters are given: `--params CKPT`, or a .safetensors file as
/// the positional argument.
func checkParamsGiven(_ model: String?, _ params: String?) throws {
    if params == nil, !(model.map { URL(fileURLWithPath: $0).pathExtension.lowercased() == "safetensors" } ?? false) {
        throw ValidationError("give the parameters: a checkpoint (nngen train --save) as CKPT or --params CKPT")
    }
}

/// The model of `eval` and `predict`, the file it came from and the parameters file: MODEL when
/// given (the parameters must then fit it, see ParameterFile), else the model the parameters file
/// carries. A positional .safetensors file is the parameters file. Usage errors (exit 2) say what
/// to add.
func resolveModel(_ model: String?, params: String?) throws -> (ModelAnalysis, String, String) {
    var model = model, params = params
    if let m = model, params == nil, URL(fileURLWithPath: m).pathExtension.lowercased() == "safetensors" {
        params = m
        model = nil
    }
    guard let params else {
        throw UsageError("give the parameters: a checkpoint (nngen train --save) as CKPT or --params CKPT")
    }
    if let model { return (try loadModel(model), model, params) }
    let stored = try StoredRun.read(from: URL(fileURLWithPath: params))
    guard let carried = stored.model else {
        throw UsageError("\(params) carries no model: give the MODEL file (JSON) before the options")
    }
    lastLoadedModel = (carried.name, params)
    return (try carried.analyze(file: params), params, params)
}

/// The compiled model with the file's parameters, and the data's inputs standardised as the
/// parameters' file says; shared by predict and eval.
struct PreparedPrediction {
    let compiled: CompiledModel
    /// With --backend auto: the tcc build (`compiled`) and the cc build compiling beside it.
    let tiered: TieredModel?
    let x: [Double]
    let count: Int
    let targets: DatasetTargets?

    /// `heldOut` keeps only the validation part of that split (fraction, seed) of a labelled file,
    /// exactly as training makes it.
    init(analysis: ModelAnalysis, model: String, params: String, data: String, backend: SingleBackendChoice,
         heldOut: (fraction: Double, seed: UInt64)? = nil) throws {
        let file = try ParameterFile.read(from: URL(fileURLWithPath: params), for: analysis)
        try analysis.model.validate(for: file.scalar, file: model)
        var inputs = try ModelData.loadInputs(URL(fileURLWithPath: data), for: analysis)
        if let heldOut {
            let part = try ModelData.load(URL(fileURLWithPath: data), for: analysis)
                .split(validationFraction: heldOut.fraction, seed: heldOut.seed).validation
            inputs = ModelData.Inputs(x: part.x, count: part.count, targets: part.targets)
        }
        var x = inputs.x
        if let s = file.standardizer {
            let f = s.features
            for i in 0..<inputs.count {
                for j in 0..<f { x[i * f + j] = Standardizer.standardized(x[i * f + j], mean: s.mean[j], std: s.std[j]) }
            }
        } else if analysis.model.standardize {
            FileHandle.standardError.write(Data("note: \(params) holds no standardizer; the inputs are used as they are\n".utf8))
        }
        switch try backend.selection() {
        case .single(let b):
            compiled = try CompiledModel(analysis: analysis, backend: b, scalar: file.scalar)
            tiered = nil
        case .auto(let tier):
            let model = try TieredModel(analysis: analysis, options: CompileOptions(scalar: file.scalar), tiered: tier)
            compiled = model.current
            tiered = model
        }
        compiled.parameters = file.parameters
        self.x = x
        count = inputs.count
        targets = inputs.targets
    }

    /// The outputs of every row, with --backend auto moving to the cc build between two batches
    /// once it is ready (a failed cc build is a warning quoting the compiler; tcc goes on).
    func outputs() throws -> [Double] {
        guard let tiered else { return try Evaluation.predict(compiled, x: x, count: count) }
        defer { tiered.finish() }
        let batches = (count + compiled.analysis.model.batch - 1) / compiled.analysis.model.batch
        var asked = 0
        var firstBatchStart: UInt64 = 0
        return try Evaluation.predict(batchesOn: {
            asked += 1
            if asked == 1 { firstBatchStart = DispatchTime.now().uptimeNanoseconds }
            if asked == 2 {  // the first batch measures the work left: the cc build starts if it can pay off
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - firstBatchStart) / 1e9
                tiered.startOptimisedBuild(workLeft: seconds * Double(batches - 1))
            }
            tiered.switchIfReady()
            if let failure = tiered.takeFailure() {
                FileHandle.standardError.write(Data(("warning: the cc build failed, so the rest runs on tcc (the same "
                                                     + "numbers, slower): \(failure)\n").utf8))
            }
            return tiered.current
        }, x: x, count: count)
    }
}
