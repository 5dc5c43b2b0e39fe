import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit
import Reference
import XCTest

/// Fusion must not change results beyond rounding: for each rule of `FusionRule.all`, the code
/// compiled with that rule removed (and with no rule at all) gives, in float64 on tcc, the
/// reference's loss, parameter gradients, input gradient and parameters after 2 optimizer steps
/// within `CheckTolerance.f64` (the rows of `checkGradients`).
///
/// `checkGradients` itself always compiles with every rule (`CompiledModel` takes no
/// `CompileOptions`), so the same comparison is made here with a small harness calling the
/// generated functions directly.
final class FusionAblationTests: XCTestCase {
    /// Two models on which every rule applies.
    func models() throws -> [ModelAnalysis] {
        [
            try analyzeTestModel("ablate_seq", input: .sequence(length: 8, channels: 2), batch: 2, loss: .softmaxCrossEntropy,
                        optimizer: .adam(lr: 0.01),
                        [.conv1d(filters: 3, kernel: 3, padding: .same), .relu, .layerNorm(), .relu,
                         .residual([.conv1d(filters: 3, kernel: 1), .tanh, .conv1d(filters: 3, kernel: 1)]),
                         .layerNorm(affine: false), .flatten, .dense(units: 4), .gelu, .dense(units: 3)]),
            try analyzeTestModel("ablate_vec", input: .features(5), batch: 3, loss: .bceWithLogits,
                        optimizer: .sgd(lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01),
                        [.dense(units: 6), .layerNorm(), .residual([.dense(units: 6), .sigmoid, .dense(units: 6)]),
                         .leakyReLU(negativeSlope: 0.1), .dense(units: 2)]),
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
            let reference = try referenceRun(a, steps: 2)
            for (label, rules) in variants {
                let c = compile(a, options: CompileOptions(scalar: .f64, fusionRules: rules))
                let got = try generatedRun(c, steps: 2)
                for (name, g, r) in zipThree(reference.names, got.values, reference.values) {
                    let e = maxRelativeError(g, r)
                    if !(e <= CheckTolerance.f64) {
                        failures.append("\(a.model.name) \(label): \(name) rel err \(e)")
                    }
                }
            }
        }
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }

    // MARK: harness

    struct Run {
        /// Row names: loss, each parameter, input, parameters after the steps.
        var names: [String]
        var values: [[Double]]
    }

    func startingPoint(_ a: ModelAnalysis) -> ([Double], SyntheticBatch) {
        (ReferenceInterpreter(a).initialParameters(seed: 3), SyntheticBatch(a, seed: 3))
    }

    func referenceRun(_ a: ModelAnalysis, steps: Int) throws -> Run {
        let (params, batch) = startingPoint(a)
        let ref = ReferenceInterpreter(a)
        let g = try ref.gradients(parameters: params, input: batch.x, targets: batch.targets, inputGradient: true)
        var p = params
        var opt = ReferenceOptimizer(a.model.optimizer, parameterCount: a.parameterCount)
        for _ in 0..<steps {
            let s = try ref.gradients(parameters: p, input: batch.x, targets: batch.targets, inputGradient: false)
            try opt.update(parameters: &p, gradients: s.parameters)
        }
        let names = ["loss"] + a.parameters.map(\.name) + ["input", "parameters after \(steps) steps"]
        let values = [[g.loss]] + a.parameters.map { Array(g.parameters[$0.offset..<($0.offset + $0.count)]) }
            + [g.input ?? [], p]
        return Run(names: names, values: values)
    }

    typealias P = UnsafeMutableRawPointer?
    typealias Forward = @convention(c) (P, P, P, P) -> Double
    typealias Backward = @convention(c) (P, P, P, P, P, P) -> Void
    typealias TrainStep = @convention(c) (P, P, P, UnsafeMutablePointer<Int64>, P, P, Double, P) -> Double

    /// Compiles float64 code with tcc and runs forward, backward (with dx) and `steps` train steps.
    func generatedRun(_ c: Compilation, steps: Int) throws -> Run {
        let a = c.analysis
        XCTAssertEqual(c.code.scalar, .f64)
        let lib = try TCCBackend().compile(source: c.code.singleUnit)
        let name = a.model.name
        let forward = try lib.function("\(name)_forward", as: Forward.self)
        let backward = try lib.function("\(name)_backward", as: Backward.self)
        let trainStep = try lib.function("\(name)_train_step", as: TrainStep.self)
        let (start, batch) = startingPoint(a)

        var params = start
        var grads = [Double](repeating: 0, count: a.parameterCount)
        var state = [Double](repeating: 0, count: max(1, a.optimizerStateElements))
        // The header's ARENA_COUNT: the plan, predict's padded input and any kernel scratch.
        var arena = [Double](repeating: 0, count: c.code.arenaElements)
        var x = batch.x
        var dx = [Double](repeating: 0, count: a.inputElements)
        var labels = (batch.labels ?? []).map { Int32($0) }
        var values = batch.values ?? []
        var step: Int64 = 0
        let lr = a.model.optimizer.learningRate

        func withTargets<T>(_ body: (P) -> T) -> T {
            a.model.loss.usesLabels
                ? labels.withUnsafeMutableBytes { body($0.baseAddress) }
                : values.withUnsafeMutableBytes { body($0.baseAddress) }
        }
        var loss = 0.0
        params.withUnsafeMutableBytes { p in
            x.withUnsafeMutableBytes { xp in
                arena.withUnsafeMutableBytes { ar in
                    grads.withUnsafeMutableBytes { g in
                        dx.withUnsafeMutableBytes { d in
                            withTargets { y in
                                loss = forward(p.baseAddress, xp.baseAddress, y, ar.baseAddress)
                                backward(p.baseAddress, xp.baseAddress, y, g.baseAddress, d.baseAddress, ar.baseAddress)
                            }
                        }
                    }
                }
            }
        }
        let gradsAfterBackward = grads
        params.withUnsafeMutableBytes { p in
            x.withUnsafeMutableBytes { xp in
                arena.withUnsafeMutableBytes { ar in
                    grads.withUnsafeMutableBytes { g in
                        state.withUnsafeMutableBytes { s in
                            withTargets { y in
                                for _ in 0..<steps {
                                    _ = trainStep(p.baseAddress, g.baseAddress, s.baseAddress, &step, xp.baseAddress, y, lr,
                                                  ar.baseAddress)
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(step, Int64(steps))
        let names = ["loss"] + a.parameters.map(\.name) + ["input", "parameters after \(steps) steps"]
        let rows = [[loss]] + a.parameters.map { Array(gradsAfterBackward[$0.offset..<($0.offset + $0.count)]) }
            + [dx, params]
        return Run(names: names, values: rows)
    }
}

/// Zips three sequences.
func zipThree<A: Sequence, B: Sequence, C: Sequence>(_ a: A, _ b: B, _ c: C) -> [(A.Element, B.Element, C.Element)] {
    zip(a, zip(b, c)).map { ($0.0, $0.1.0, $0.1.1) }
}
