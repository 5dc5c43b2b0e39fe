import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Fusion must not change results beyond rounding: for each rule of `FusionRule.all`, the code
/// compiled with that rule removed (and with no rule at all) gives, in float64 (tcc; and cc for no rule),
/// the reference's loss, parameter gradients, input gradient and parameters after 2 optimizer
/// steps within `CheckTolerance.f64` (`checkGradients` with `fusionRules`).
final class FusionAblationTests: XCTestCase {
    /// Two models on which every rule applies.
    func models() throws -> [ModelAnalysis] {
        [
            try analyzeTestModel("ablate_seq", input: .sequence(length: 8, channels: 2), batch: 2, loss: .softmaxCrossEntropy,
                        optimizer: .adam(lr: 0.01),
                        [.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.relu), .layerNorm(), .activation(.relu),
                         .residual([.conv1d(filters: 3, kernel: 1), .activation(.tanh), .conv1d(filters: 3, kernel: 1)]),
                         .layerNorm(affine: false), .flatten, .dense(units: 4), .activation(.gelu), .dense(units: 3)]),
            try analyzeTestModel("ablate_vec", input: .features(5), batch: 3, loss: .bceWithLogits,
                        optimizer: .sgd(lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01),
                        [.dense(units: 6), .layerNorm(), .residual([.dense(units: 6), .activation(.sigmoid), .dense(units: 6)]),
                         .activation(.leakyReLU(negativeSlope: 0.1)), .dense(units: 2)]),
        ]
    }

    func testEveryRuleRemovedStillMatchesTheReference() throws {
        let models = try models()
        // Every rule applies to at least one of the models.
        for rule in FusionRule.all {
            XCTAssertTrue(models.contains { a in compile(a).fused.nodes.contains { $0.fusedBy.contains(rule.name) } },
                          "\(rule.name) applies to none of the models")
        }
        var variants: [(String, [FusionRule])] = FusionRule.all.map { r in
            ("without \(r.name)", FusionRule.all.filter { $0.name != r.name })
        }
        variants.append(("no fusion", []))
        variants.append(("all rules", FusionRule.all))
        var failures: [String] = []
        for a in models {
            for (label, rules) in variants {
                // tcc for every variant; cc (slower to compile) for the unfused code.
                let backends: [any CBackend] = label == "no fusion" ? [TCCBackend(), CCBackend()] : [TCCBackend()]
                for backend in backends {
                    let report = try checkGradients(a, backend: backend, scalar: .f64, seed: 3, steps: 2, fusionRules: rules)
                    XCTAssertEqual(report.rows.count, a.parameters.count + 4, "init, loss, parameters, input, after steps")
                    for row in report.rows where !(row.maxRelativeError <= CheckTolerance.f64) {
                        failures.append("\(a.model.name) \(label) \(backend.name): \(row.name) rel err \(row.maxRelativeError)")
                    }
                }
            }
        }
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }

    /// The rules really are off: without any rule the kernels of the fused kinds are gone.
    func testNoRulesLeavesNoFusedKernel() throws {
        let a = try models()[0]
        let unfused = compile(a, options: CompileOptions(scalar: .f64, fusionRules: []))
        XCTAssertTrue(unfused.fused.nodes.allSatisfy { $0.fusedBy.isEmpty })
        let model = try CompiledModel(analysis: a, backend: TCCBackend(), options: CompileOptions(scalar: .f64, fusionRules: []))
        XCTAssertEqual(model.compilation.code.source, unfused.code.source)
    }
}
