import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Frozen parameters pruned at compile time, their gradients against the full model's, and
/// starting from pretrained weights (`--init`).
final class FineTuningTests: XCTestCase {
    func benchModel(_ name: String) throws -> ModelAnalysis {
        let path = kitTestsPackageRoot.appendingPathComponent("examples/bench/\(name).json").path
        return try Model.load(from: URL(fileURLWithPath: path)).analyze(file: path)
    }

    /// W4 training only its last dense layer: the generated C has a backward pass of the last
    /// layer only, no kernel of a frozen layer's backward, an optimizer over its 257 parameters,
    /// a gradient array of 257 and a much smaller arena than full training.
    func testGeneratedCodeHasNoKernelForPrunedWork() throws {
        let last = try benchModel("w4_resmlp_last")
        let full = try benchModel("w4_resmlp")
        let c = compile(last).code
        let backward = try XCTUnwrap(c.source.range(of: "void w4_resmlp_last_backward(").map { c.source[$0.lowerBound...] })
        let body = String(backward.prefix { $0 != "}" })
        let calls = body.split(separator: "\n").filter { $0.hasPrefix("    ") && $0.contains("(") && !$0.contains("*const") && !$0.contains("(void)") }
        XCTAssertEqual(calls.map { String($0.split(separator: "(")[0]).trimmingCharacters(in: .whitespaces) },
                       ["loss_mse_backward", "layers_3_dense_backward_bias", "layers_3_dense_backward_weight"])
        // No kernel of the frozen layers' backward anywhere in the file, and no input gradient.
        for name in c.kernelNames where name.contains("backward") {
            XCTAssertTrue(name.hasPrefix("layers_3_") || name.hasPrefix("loss_"), name)
        }
        XCTAssertFalse(c.source.contains("if (dx)"))
        XCTAssertTrue(c.source.contains("nn_sgd_f32(257, p + 1052672, g, lr, 0.0f);"))
        XCTAssertTrue(c.header.contains("#define w4_resmlp_last_GRAD_COUNT 257"))
        XCTAssertTrue(c.header.contains("layers.0.layers.1.weight [1024, 256] at 512, 262144 elements, frozen (no gradient)"))
        // Memory beyond the parameters: at most a tenth of full training's (the goal of issue 13).
        let beyond = { (a: ModelAnalysis) in a.gradientCount + a.optimizerStateElements + memoryPlan(for: a).arenaElements }
        XCTAssertLessThanOrEqual(10 * beyond(last), beyond(full))
        // The full model's code is untouched by the feature: no GRAD_COUNT, one optimizer loop.
        let fullCode = compile(full).code
        XCTAssertFalse(fullCode.header.contains("GRAD_COUNT"))
        XCTAssertTrue(fullCode.source.contains("nn_sgd_f32(1052929, p, g, lr, 0.0f);"))
    }

    /// Bias-only: the weight-gradient kernels are gone, the bias ones remain; the optimizer makes
    /// one call per bias (they are not adjacent in the parameter array).
    func testBiasOnlyKeepsOnlyBiasGradients() throws {
        let a = try benchModel("w3_conv1d_ln_bias")
        let c = compile(a).code
        XCTAssertFalse(c.kernelNames.contains { $0.contains("backward_weight") }, "\(c.kernelNames)")
        XCTAssertTrue(c.kernelNames.contains { $0.contains("backward_bias") }, "\(c.kernelNames)")
        let biases = a.parameters.filter { $0.role == .bias }
        XCTAssertEqual(a.gradientCount, biases.reduce(0) { $0 + $1.count })
        let optimizer = try XCTUnwrap(c.source.range(of: "static void w3_conv1d_ln_bias_optimizer(").map { c.source[$0.lowerBound...] })
        let body = String(optimizer.prefix { $0 != "}" })
        XCTAssertEqual(body.components(separatedBy: "nn_sgd_f32(").count - 1, biases.count, body)
    }

    /// The trainable parameters' gradients of a frozen model equal the full model's (same code
    /// paths for what trains); frozen ones read 0.
    func testTrainableGradientsEqualTheFullModels() throws {
        for frozen in try CheckMatrixTests.frozenModels() {
            var plain = frozen.model
            plain.trainable = [:]
            let full = try plain.analyze()
            for scalar in [ScalarType.f64, .f32] {
                let a = try CompiledModel(analysis: frozen, backend: TCCBackend(), scalar: scalar)
                let b = try CompiledModel(analysis: full, backend: TCCBackend(), scalar: scalar)
                a.initialize(seed: 7)
                b.initialize(seed: 7)
                let batch = SyntheticBatch(full, seed: 7).rounded(to: scalar)
                for m in [a, b] {
                    try m.setBatch(x: batch.x, labels: batch.labels, values: batch.values)
                    _ = m.forward()
                    m.backward()
                }
                let (ga, gb) = (a.gradients, b.gradients)
                for p in frozen.parameters {
                    let r = p.offset..<(p.offset + p.count)
                    if p.trainable {
                        let scale = max(gb[r].map(abs).max() ?? 0, 1e-30)
                        let err = zip(ga[r], gb[r]).map { abs($0 - $1) }.max() ?? 0
                        XCTAssertLessThanOrEqual(err / scale, scalar == .f64 ? 1e-12 : 1e-5, "\(frozen.model.name) \(p.name)")
                    } else {
                        XCTAssertEqual(Array(ga[r]), Array(repeating: 0, count: p.count), "\(frozen.model.name) \(p.name)")
                    }
                }
            }
        }
    }

    // MARK: --init

    func smallModel(_ trainable: [String: Trainable] = [:]) throws -> ModelAnalysis {
        try Model(name: "ft", input: .features(3), batch: 2, layers: [.dense(units: 4), .activation(.relu), .dense(units: 2)],
                  loss: .mse, optimizer: .adam(lr: 0.01), trainable: trainable).analyze()
    }

    /// A PyTorch nn.Sequential state_dict as `safetensors.torch.save_file` writes it (names
    /// `0.weight`, `2.bias`), built by hand: F64 values load into an f32 model by name.
    func testPyTorchSequentialNamesLoad() throws {
        let a = try smallModel()
        let w0 = (0..<12).map { Double($0) / 8 }, b0 = [0.5, -0.5, 0.25, -0.25]
        let w2 = (0..<8).map { -Double($0) / 16 }, b2 = [1.0, -1.0]
        let file = try SafetensorsFile(tensors: [
            Tensor(name: "2.bias", shape: [2], doubles: b2, dtype: .f64),
            Tensor(name: "0.weight", shape: [4, 3], doubles: w0, dtype: .f32),
            Tensor(name: "0.bias", shape: [4], doubles: b0, dtype: .f64),
            Tensor(name: "2.weight", shape: [2, 4], doubles: w2, dtype: .f64),
        ], metadata: ["format": "pt"])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ft_torch_\(getpid()).safetensors")
        try file.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let m = try CompiledModel(analysis: a, backend: TCCBackend(), scalar: .f32)
        m.initialize(seed: 1)
        let r = try m.loadInitialParameters(from: url, partial: false)
        XCTAssertEqual(r.loaded, ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"])
        XCTAssertEqual(m.parameters, w0 + b0 + w2 + b2)  // all exact in float32
        XCTAssertEqual(InitialParameters.parameterName(forTensor: "2.layers.1.weight"), "layers.2.layers.1.weight")
        XCTAssertEqual(InitialParameters.parameterName(forTensor: "layers.0.bias"), "layers.0.bias")
    }

    func testMissingExtraAndMisshapenTensorsAreListedTogether() throws {
        let a = try smallModel()
        let file = try SafetensorsFile(tensors: [
            Tensor(name: "layers.0.weight", shape: [3, 4], doubles: Array(repeating: 0, count: 12), dtype: .f32),
            Tensor(name: "0.bias", shape: [4], ints: [1, 2, 3, 4], dtype: .i64),
            Tensor(name: "classifier.weight", shape: [2], doubles: [1, 2], dtype: .f32),
        ])
        XCTAssertThrowsError(try InitialParameters(file: file, source: "pre.safetensors", for: a,
                                                   base: Array(repeating: 0, count: a.parameterCount), partial: false)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("pre.safetensors cannot give this model's parameters:\n"), text)
            XCTAssertTrue(text.contains("  missing (2): layers.2.weight, layers.2.bias (pass --init-partial to keep their seeded values)"), text)
            XCTAssertTrue(text.contains("  not parameters of the model (1): classifier.weight"), text)
            XCTAssertTrue(text.contains(#"  "layers.0.weight" has shape [3, 4], layers.0.weight needs [4, 3]"#), text)
            XCTAssertTrue(text.contains(#"  "0.bias" is I64, expected F32 or F64"#), text)
        }
    }

    /// --init-partial: the missing ones keep the base (seeded) values; a checkpoint's optimizer
    /// tensors are skipped.
    func testPartialAndCheckpointFiles() throws {
        let a = try smallModel()
        let base = (0..<a.parameterCount).map { Double($0) }
        let file = try SafetensorsFile(tensors: [
            Tensor(name: "layers.2.bias", shape: [2], doubles: [7, 8], dtype: .f64),
        ])
        let r = try InitialParameters(file: file, source: "p", for: a, base: base, partial: true)
        XCTAssertEqual(r.missing, ["layers.0.weight", "layers.0.bias", "layers.2.weight"])
        XCTAssertEqual(r.values, Array(base.dropLast(2)) + [7, 8])

        let ck = Checkpoint(model: a.model, scalar: .f64, parameters: base.map { $0 + 0.5 },
                            optimizerState: Array(repeating: 0.25, count: a.optimizerStateElements), step: 3, epoch: 1,
                            standardizer: nil, seed: 1, validationSplit: 0.2, learningRate: nil)
        let fromCheckpoint = try InitialParameters(file: ck.safetensors(), source: "ck", for: a, base: base, partial: false)
        XCTAssertEqual(fromCheckpoint.values, base.map { $0 + 0.5 })
    }

    /// A frozen model's checkpoint stores every parameter and optimizer state for the trainable
    /// ones only; it reads back the same.
    func testCheckpointOfAFrozenModel() throws {
        let a = try smallModel(["layers[0]": .frozen])
        XCTAssertEqual(a.gradientCount, 10)
        XCTAssertEqual(a.optimizerStateElements, 20)
        let params = (0..<a.parameterCount).map { Double($0) / 4 }
        let state = (0..<20).map { Double($0) / 8 }
        let ck = Checkpoint(model: a.model, scalar: .f64, parameters: params, optimizerState: state, step: 5, epoch: 2,
                            standardizer: nil, seed: 1, validationSplit: 0.2, learningRate: nil)
        let file = try ck.safetensors()
        XCTAssertEqual(file.names.filter { $0.hasPrefix("optimizer.exp") },
                       ["optimizer.exp_avg.layers.2.weight", "optimizer.exp_avg.layers.2.bias",
                        "optimizer.exp_avg_sq.layers.2.weight", "optimizer.exp_avg_sq.layers.2.bias"])
        XCTAssertEqual(file["optimizer.exp_avg_sq.layers.2.bias"]?.asDoubles(), [Double(18) / 8, Double(19) / 8])
        let back = try Checkpoint(file: file, source: "ck")
        XCTAssertEqual(back.parameters, params)
        XCTAssertEqual(back.optimizerState, state)
        XCTAssertEqual(back.model.trainable, ["layers[0]": .frozen])
    }
}
