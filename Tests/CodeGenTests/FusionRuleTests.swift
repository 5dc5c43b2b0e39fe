import CodeGen
import ModelSpec
import XCTest

/// One test per rule of `FusionRule.all`: on a model where the rule applies, the differentiated
/// graph holds the unfused nodes, the fused graph holds the fused node (naming the rule in
/// `fusedBy`) and none of the unfused kinds, and the emitted C has the fused kernel and no
/// kernel for the folded pass. Each folded kernel's name is also checked to be emitted when
/// the rule is removed, so the "absent" assertions look for names that do exist otherwise.
/// (That fusion leaves the numbers unchanged is checked in NNGenKitTests/FusionAblationTests.)
final class FusionRuleTests: XCTestCase {
    // MARK: models

    /// dense -> relu -> dense, softmax cross-entropy.
    func mlp() throws -> ModelAnalysis {
        try analyze("fuse_mlp", input: .features(4), batch: 4, loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.1),
                    [.dense(units: 5), .activation(.relu), .dense(units: 3)])
    }

    /// dense -> layernorm -> relu -> dense -> layernorm (no affine, other eps) -> dense, mse.
    func layerNormModel() throws -> ModelAnalysis {
        try analyze("fuse_ln", input: .features(5), batch: 3, loss: .mse,
                    [.dense(units: 6), .layerNorm(), .activation(.relu), .dense(units: 4), .layerNorm(eps: 0.1, affine: false),
                     .dense(units: 2)])
    }

    /// conv1d -> relu -> flatten -> dense, bce_with_logits.
    func convModel() throws -> ModelAnalysis {
        try analyze("fuse_conv", input: .sequence(length: 8, channels: 2), batch: 2, loss: .bceWithLogits,
                    [.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.relu), .flatten, .dense(units: 2)])
    }

    /// dense -> residual(dense, tanh, dense) -> dense, mse.
    func residualModel() throws -> ModelAnalysis {
        try analyze("fuse_res", input: .features(4), batch: 3, loss: .mse,
                    [.dense(units: 4), .residual([.dense(units: 4), .activation(.tanh), .dense(units: 4)]), .dense(units: 2)])
    }

    // MARK: tests

    func testEveryRuleHasATestBelow() {
        XCTAssertEqual(FusionRule.all.map(\.name), [
            "softmax_cross_entropy", "layernorm_backward", "layernorm_forward", "dense_bias_activation",
            "conv1d_bias_activation", "activation_derivative_into_product", "residual_add_epilogue",
            "elementwise_epilogue", "optimizer_flat_loop",
        ])
        for rule in FusionRule.all { XCTAssertFalse(rule.summary.isEmpty, rule.name) }
    }

    func testSoftmaxCrossEntropy() throws {
        try checkRule("softmax_cross_entropy", try mlp(),
                      unfused: ["softmax": { $0 == .softmax }, "cross_entropy": { $0 == .crossEntropy },
                                "cross_entropy_grad": { $0 == .crossEntropyGrad }, "softmax_grad": { $0 == .softmaxGrad }],
                      fused: { $0.kind == .softmaxCrossEntropy && $0.outputs.count == 2 },
                      fusedKernel: "loss_softmax_cross_entropy_forward_backward",
                      foldedKernels: ["loss_softmax_cross_entropy_softmax", "loss_softmax_cross_entropy_cross_entropy",
                                      "loss_softmax_cross_entropy_cross_entropy_backward",
                                      "loss_softmax_cross_entropy_softmax_backward"])
    }

    func testLayerNormBackward() throws {
        let c = try checkRule("layernorm_backward", try layerNormModel(),
                              unfused: ["scale_shift_grad": { $0 == .scaleShiftGrad },
                                        "layernorm_normalize_grad": { $0 == .layerNormalizeGrad }],
                              fused: { $0.kind == .layerNormGrad(affine: true) && $0.outputs.count == 3 },
                              fusedKernel: "layers_1_layernorm_backward",
                              foldedKernels: ["layers_1_layernorm_scale_shift_backward",
                                              "layers_1_layernorm_normalize_backward",
                                              "layers_4_layernorm_normalize_backward"])
        // The layernorm without affine parameters gets the same kernel without dweight/dbias.
        let plain = c.fused.nodes.filter { $0.kind == .layerNormGrad(affine: false) }
        XCTAssertEqual(plain.count, 1)
        XCTAssertEqual(plain.first?.outputs.count, 1)
        XCTAssertEqual(plain.first?.fusedBy.contains("layernorm_backward"), true)
        XCTAssertTrue(c.code.kernelNames.contains("layers_4_layernorm_backward"), "\(c.code.kernelNames)")
    }

    func testLayerNormForward() throws {
        let c = try checkRule("layernorm_forward", try layerNormModel(),
                              unfused: ["layernorm_normalize": { if case .layerNormalize = $0 { return true }; return false },
                                        "scale_shift": { $0 == .scaleShift }],
                              fused: { $0.kind == .layerNorm(eps: 1e-5, affine: true) && $0.outputs.count == 3 },
                              fusedKernel: "layers_1_layernorm_forward",
                              foldedKernels: ["layers_1_layernorm_normalize", "layers_1_layernorm_scale_shift",
                                              "layers_4_layernorm_normalize"])
        XCTAssertTrue(c.fused.has { $0.kind == .layerNorm(eps: 0.1, affine: false) })
        // The fused forward keeps mean and 1/std (its 2nd and 3rd outputs) for backward.
        if let ln = c.fused.nodes.first(where: { $0.kind == .layerNorm(eps: 1e-5, affine: true) }) {
            XCTAssertEqual(c.fused[ln.outputs[1]].name, "layers.1.mean")
            XCTAssertEqual(c.fused[ln.outputs[2]].name, "layers.1.rstd")
        }
    }

    func testDenseBiasActivation() throws {
        let c = try checkRule("dense_bias_activation", try mlp(),
                              unfused: ["bias_add": { $0 == .biasAdd }, "relu": { $0 == .activation(.relu) }],
                              fused: { $0.kind == .matmul && $0.epilogue.contains(.activation(.relu)) },
                              fusedKernel: "layers_0_dense_forward",
                              foldedKernels: ["layers_0_dense_bias", "layers_1_relu_relu", "layers_2_dense_bias"])
        // Both matmuls carry their bias; the first also its relu.
        let matmuls = c.fused.nodes.filter { $0.kind == .matmul }
        XCTAssertEqual(matmuls.count, 2)
        XCTAssertEqual(matmuls.map { $0.epilogue.filter { if case .bias = $0 { return true }; return false }.count }, [1, 1])
        XCTAssertTrue(c.differentiated.has { $0.kind == .matmul && $0.epilogue.isEmpty })
    }

    func testConv1dBiasActivation() throws {
        try checkRule("conv1d_bias_activation", try convModel(),
                      unfused: ["bias_add": { $0 == .biasAdd }, "relu": { $0 == .activation(.relu) }],
                      fused: {
                          if case .conv1d = $0.kind { return $0.epilogue.contains(.activation(.relu)) }
                          return false
                      },
                      fusedKernel: "layers_0_conv1d_forward",
                      foldedKernels: ["layers_0_conv1d_bias", "layers_1_relu_relu"])
    }

    func testActivationDerivativeIntoProduct() throws {
        try checkRule("activation_derivative_into_product", try mlp(),
                      unfused: ["relu_grad": { $0 == .activationGrad(.relu, fromOutput: true) }],
                      fused: { n in
                          n.kind == .matmulGradInput && n.epilogue.contains {
                              if case .activationDerivative(.relu, _, true) = $0 { return true }; return false
                          }
                      },
                      fusedKernel: "layers_2_dense_backward_input",
                      foldedKernels: ["layers_1_relu_relu_backward"])
    }

    func testResidualAddEpilogue() throws {
        let c = try checkRule("residual_add_epilogue", try residualModel(),
                              unfused: ["add": { $0 == .add }],
                              fused: { n in n.epilogue.contains { if case .add = $0 { return true }; return false } },
                              fusedKernel: "layers_1_layers_2_dense_forward",
                              foldedKernels: ["layers_1_residual_residual_add", "layers_0_dense_grad_sum"])
        // Both adds are gone: the residual add (forward) and the sum of gradients at the fork (backward).
        XCTAssertEqual(c.differentiated.nodes.filter { $0.kind == .add }.map(\.phase), [.forward, .backward])
        let carriers = c.fused.nodes.filter { n in n.epilogue.contains { if case .add = $0 { return true }; return false } }
        XCTAssertEqual(carriers.map(\.phase), [.forward, .backward])
        XCTAssertEqual(carriers.map(\.kind), [.matmul, .matmulGradInput])
    }

    func testElementwiseEpilogue() throws {
        let c = try checkRule("elementwise_epilogue", try layerNormModel(),
                              unfused: ["relu": { $0 == .activation(.relu) }],
                              fused: { $0.kind == .layerNorm(eps: 1e-5, affine: true) && $0.epilogue == [.activation(.relu)] },
                              fusedKernel: "layers_1_layernorm_forward",
                              foldedKernels: ["layers_2_relu_relu"])
        // The layernorm's output now is the relu's output.
        if let ln = c.fused.nodes.first(where: { $0.kind == .layerNorm(eps: 1e-5, affine: true) }) {
            XCTAssertEqual(c.fused[ln.outputs[0]].name, "layers.2.out")
        }
    }

    func testOptimizerFlatLoop() throws {
        let a = try mlp()
        let c = try checkRule("optimizer_flat_loop", a,
                              unfused: ["optimizer_update": { if case .optimizerUpdate = $0 { return true }; return false }],
                              fused: { $0.kind == .optimizerStep(a.model.optimizer, parameterCount: a.parameterCount) },
                              fusedKernel: nil, foldedKernels: [])
        XCTAssertEqual(c.differentiated.nodes.filter { if case .optimizerUpdate = $0.kind { return true }; return false }.count,
                       a.parameters.count)
        let steps = c.fused.nodes.filter { if case .optimizerStep = $0.kind { return true }; return false }
        XCTAssertEqual(steps.count, 1)
        // Inputs: every parameter, then every gradient, in ModelSpec's order.
        XCTAssertEqual(steps.first?.inputs.map { c.fused[$0].name },
                       a.parameters.map(\.name) + a.parameters.map { "grad(\($0.name))" })
        // The C has one optimizer function looping over all parameters.
        let src = c.code.source
        XCTAssertEqual(src.components(separatedBy: "static void fuse_mlp_optimizer(").count - 1, 1)
        // ... which runs its optimizer's helper (one loop) over all of them.
        XCTAssertTrue(src.contains("(\(a.parameterCount), p, g, "), "the optimizer helper runs over every parameter")
        XCTAssertTrue(src.contains("fused: optimizer_flat_loop"))
    }

    // MARK: support

    /// Compiles `analysis` with all rules and without `rule`, and checks what the rule did.
    @discardableResult
    func checkRule(_ rule: String, _ analysis: ModelAnalysis, unfused: [String: (NodeKind) -> Bool],
                   fused isFused: (Node) -> Bool, fusedKernel: String?, foldedKernels: [String],
                   file: StaticString = #filePath, line: UInt = #line) throws -> Compilation {
        XCTAssertTrue(FusionRule.all.contains { $0.name == rule }, "no rule \(rule)", file: file, line: line)
        let c = compile(analysis, options: CompileOptions(scalar: .f32))
        let without = compile(analysis, options: CompileOptions(scalar: .f32,
                                                                fusionRules: FusionRule.all.filter { $0.name != rule }))
        for (name, kind) in unfused.sorted(by: { $0.key < $1.key }) {
            XCTAssertTrue(c.differentiated.nodes.contains { kind($0.kind) },
                          "\(rule): the differentiated graph has no \(name) node: \(c.differentiated.kindNames)",
                          file: file, line: line)
            XCTAssertFalse(c.fused.nodes.contains { kind($0.kind) },
                           "\(rule): the fused graph still has a \(name) node: \(c.fused.kindNames)", file: file, line: line)
            XCTAssertTrue(without.fused.nodes.contains { kind($0.kind) },
                          "\(rule): without the rule, \(name) should stay unfused: \(without.fused.kindNames)",
                          file: file, line: line)
        }
        let carriers = c.fused.nodes.filter(isFused)
        XCTAssertFalse(carriers.isEmpty, "\(rule): no fused node in \(c.fused.dump())", file: file, line: line)
        for n in carriers {
            XCTAssertTrue(n.fusedBy.contains(rule), "\(rule): fused node \(n.kind.name) has fusedBy \(n.fusedBy)",
                          file: file, line: line)
        }
        XCTAssertFalse(without.fused.nodes.contains { $0.fusedBy.contains(rule) }, file: file, line: line)
        let source = c.code.source
        if let fusedKernel {
            XCTAssertTrue(c.code.kernelNames.contains(fusedKernel), "\(rule): no kernel \(fusedKernel) in \(c.code.kernelNames)",
                          file: file, line: line)
            let comment = kernelComment(source, fusedKernel)
            XCTAssertTrue(comment?.contains(rule) == true, "\(rule): the comment of \(fusedKernel) is \(comment ?? "missing")",
                          file: file, line: line)
        }
        for k in foldedKernels {
            XCTAssertTrue(without.code.kernelNames.contains(k),
                          "\(rule): without the rule there should be a kernel \(k): \(without.code.kernelNames)",
                          file: file, line: line)
            XCTAssertTrue(without.code.source.contains("static void \(k)("), file: file, line: line)
            XCTAssertFalse(c.code.kernelNames.contains(k), "\(rule): kernel \(k) is still emitted", file: file, line: line)
            XCTAssertFalse(source.contains("static void \(k)("), "\(rule): kernel \(k) is still defined", file: file, line: line)
        }
        return c
    }

    /// The comment just above `static void NAME(` in C source.
    func kernelComment(_ source: String, _ name: String) -> String? {
        guard let def = source.range(of: "static void \(name)("),
              let start = source[..<def.lowerBound].range(of: "/*", options: .backwards) else { return nil }
        return String(source[start.lowerBound..<def.lowerBound])
    }
}
