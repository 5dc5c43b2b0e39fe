import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Layernorm backward multiplies dx by the derivative of the activation before it as it writes
/// dx (relu, leaky relu, sigmoid and tanh: `nn_layernorm_grad_relu` and its siblings) instead of
/// running that derivative as a pass of its own; gelu's derivative keeps its pass. The variants
/// compute the same product in the same order as the separate derivative kernel, so gradients
/// are bit-identical to the code compiled without `activation_derivative_into_product`, on both
/// back ends in both scalar types, and match the reference (`checkGradients`).
final class LayerNormDerivativeTests: XCTestCase {
    /// conv1d -> activation -> layernorm, once per activation, affine and not in turn.
    func model() throws -> ModelAnalysis {
        var layers: [Layer] = []
        let acts: [Activation] = [.relu, .leakyReLU(negativeSlope: 0.1), .sigmoid, .tanh, .gelu]
        for (i, a) in acts.enumerated() {
            layers += [.conv1d(filters: 4, kernel: 3, padding: .same), .activation(a), .layerNorm(affine: i % 2 == 0)]
        }
        return try analyzeTestModel("ln_after_activations", input: .sequence(length: 6, channels: 3), batch: 5, loss: .mse,
                                    optimizer: .sgd(lr: 0.1), layers + [.flatten, .dense(units: 2)])
    }

    func testTheGeneratedCodeCallsTheVariants() throws {
        let a = try model()
        for scalar in ScalarType.allCases {
            let source = compile(a, options: CompileOptions(scalar: scalar)).code.source
            let s = scalar.rawValue
            let calls = source.split(separator: "\n").filter { $0.contains("nn_layernorm_grad") || $0.contains("_grad_\(s)(") }
            for variant in ["relu", "leaky_relu", "sigmoid_out", "tanh_out"] {
                XCTAssertTrue(source.contains("nn_layernorm_grad_\(variant)_\(s)(30, 4, dout, x, mean, rstd, "), "\(variant) \(s):\n\(calls.joined(separator: "\n"))")
            }
            // leaky relu's slope is an argument; gelu keeps the plain helper and its derivative's pass.
            XCTAssertTrue(source.contains(", act_out0, 0.1"), s)
            XCTAssertTrue(source.contains("nn_layernorm_grad_\(s)(30, 4, dout, x, mean, rstd, "), s)
            XCTAssertTrue(source.contains("nn_gelu_grad_\(s)(120, dx, act_in0);"), s)
            // No other derivative pass is left in a layernorm backward kernel.
            for name in ["relu", "leaky_relu", "sigmoid", "tanh"] {
                XCTAssertFalse(source.contains("nn_\(name)_grad_"), "\(name) \(s)")
            }
        }
    }

    func testVariantsGiveTheBitsOfTheSeparateDerivative() throws {
        let a = try model()
        let withoutFolding = FusionRule.all.filter { $0.name != "activation_derivative_into_product" }
        XCTAssertEqual(withoutFolding.count, FusionRule.all.count - 1)
        let rng = SplitMix(seed: 11)
        let x = (0..<a.inputElements).map { _ in rng.next() }
        let y = (0..<(a.model.batch * a.outputCount)).map { _ in rng.next() }
        for backend in [TCCBackend(), CCBackend()] as [any CBackend] {
            for scalar in ScalarType.allCases {
                var results: [[Double]] = []
                for rules in [FusionRule.all, withoutFolding] {
                    let m = try CompiledModel(analysis: a, backend: backend, options: CompileOptions(scalar: scalar, fusionRules: rules))
                    m.initialize(seed: 5)
                    try m.setBatch(x: x, values: y)
                    let loss = m.forward()
                    m.backward(inputGradient: true)
                    results.append([loss] + m.gradients + m.inputGradient)
                }
                XCTAssertEqual(results[0].count, 1 + a.parameterCount + a.inputElements)
                XCTAssertTrue(results[0].elementsEqual(results[1]) { $0.bitPattern == $1.bitPattern },
                              "\(backend.name) \(scalar): folded and separate derivatives differ")
                let report = try checkGradients(a, backend: backend, scalar: scalar, seed: 3, steps: 1)
                XCTAssertTrue(report.passed, "\(backend.name) \(scalar):\n\(report.rows.filter { !$0.passed }.map(\.name))")
            }
        }
    }
}

/// A fixed sequence of doubles in [-1, 1).
private final class SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 52) - 1
    }
}
