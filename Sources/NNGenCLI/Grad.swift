import ArgumentParser
import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit

/// `nngen grad MODEL --params P --batch B -o G`: the loss and every gradient of one batch.
struct Grad: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the loss and the gradients of one batch and write them as safetensors.",
        discussion: """
        Reads the parameters (every parameter by name with exactly its shape, F32 or F64; a checkpoint \
        works too) and a batch (x: [B, F] or [B, L, C] with B the model's batch; y: [B] integer labels \
        for softmax cross-entropy, else [B, outputs]; or a labelled CSV file as train reads it, of \
        which the first B rows are the batch), runs one forward and backward pass with the \
        generated code (or the Swift reference interpreter with --reference), and writes `loss` \
        (shape []), one gradient per parameter under the parameter's own name, and `input` (the \
        gradient of x, x's shape), in the run's dtype (F64 for --reference). x is used as given: it is \
        not standardised, even for a model with "standardize": true.
        """)

    /// Back ends for one run. auto is tcc here: one batch is over before a cc build would be.
    enum BackendName: String, ExpressibleByArgument, CaseIterable {
        case auto, tcc, cc
        var backend: any CBackend { self == .cc ? CCBackend() : TCCBackend() }
    }

    @Argument(help: "The model file (JSON).")
    var model: String

    @Option(help: "The parameters (safetensors).")
    var params: String

    @Option(help: "The batch: safetensors with x and y, or a labelled CSV file (its first B rows).")
    var batch: String

    @Option(name: .shortAndLong, help: "Where to write the loss and the gradients (safetensors).")
    var output: String

    @Option(help: "Back end: auto (the default; for one batch that is tcc, which is compiled before cc would be), tcc or cc.")
    var backend: BackendName = .auto

    @Option(help: dtypeHelp)
    var dtype: ScalarType?

    @Flag(help: "Use the Swift reference interpreter (float64) instead of the generated code.")
    var reference = false

    func validate() throws {
        if reference && dtype == .f32 {
            throw ValidationError("--reference computes in float64; leave out --dtype f32 or --reference")
        }
    }

    func run() throws {
        let analysis = try loadModel(model)
        let engine: GradEngine = reference ? .reference : .generated(backend.backend, dtype ?? .f32)
        let r = try computeGradients(analysis, parametersFile: params, batchFile: batch, outputFile: output,
                                     engine: engine)
        print("wrote \(output): loss \(String(format: "%.6g", r.loss)), \(r.gradients.count) parameter gradients "
              + "and the input gradient \(r.inputShape) (\(engine.name), \(engine.scalar.rawValue))")
    }
}
