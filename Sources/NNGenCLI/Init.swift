import ArgumentParser
import CodeGen
import Foundation
import ModelSpec
import NNGenKit
import Reference

/// `nngen init MODEL --seed S -o params.safetensors`: the initial parameters.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the model's initial parameters (as NAME_init draws them) to a safetensors file.",
        discussion: """
        Each parameter is stored under its own name (layers.0.weight ...) with its shape; the \
        metadata holds format nngen-parameters-1, the model JSON, the dtype and the seed. The \
        values are those of the generated NAME_init(params, seed) and of the reference interpreter.
        """)

    @Argument(help: "The model file (JSON).")
    var model: String

    @Option(parsing: .unconditional, help: "The seed.")
    var seed: UInt64 = 1

    @Option(name: .shortAndLong, help: ArgumentHelp("The output file.", valueName: "params.safetensors"))
    var output: String

    @Option(help: "Stored dtype: f32 or f64.")
    var dtype: ScalarType = .f32

    func run() throws {
        let analysis = try loadModel(model)
        let values = ReferenceInterpreter(analysis).initialParameters(seed: seed)
        let file = try ParameterFile.initial(analysis, seed: seed, values: values, scalar: dtype)
        try file.write(to: URL(fileURLWithPath: output))
        print("wrote \(analysis.parameters.count) tensors (\(ModelSummary.grouped(analysis.parameterCount)) parameters, "
              + "\(dtype.rawValue), seed \(seed)) to \(output)")
    }
}
