import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// `checkGradients` (generated code against the reference interpreter: init, loss, every
/// parameter gradient, the input gradient, and the parameters after 2 optimizer steps) on:
/// - the model matrix of ReferenceTests/GradientCheckTests.swift (every layer, every layer
///   option, every loss), with every optimizer variant spread over it;
/// - the 6 examples/*.json and the 4 examples/bench/*.json models.
///
/// Every model runs on both back ends (tcc, cc) in both scalar types (f32, f64). The reference
/// interpreter is built optimised even in debug builds (Package.swift), which keeps this near a
/// minute on 2 cores.
/// Checks run concurrently, one per core.
final class CheckMatrixTests: XCTestCase {
    /// The models of GradientCheckTests (same names, inputs, batches, layers and losses), each
    /// with an optimizer; together they use every optimizer variant.
    static func matrixModels() throws -> [ModelAnalysis] {
        [
            try analyzeTestModel("mlp_relu_mse", input: .features(4), batch: 3, loss: .mse, optimizer: .sgd(lr: 0.1),
                        [.dense(units: 5), .activation(.relu), .dense(units: 3)]),
            try analyzeTestModel("silu_huber03", input: .features(4), batch: 3, loss: .huber(delta: 0.3),
                        optimizer: .adam(lr: 0.01), [.dense(units: 5), .activation(.silu), .dense(units: 2)]),
            try analyzeTestModel("dense_nobias_leaky02_bce", input: .features(3), batch: 3, loss: .bceWithLogits,
                        optimizer: .sgd(lr: 0.05, momentum: 0.9),
                        [.dense(units: 4, bias: false), .activation(.leakyReLU(negativeSlope: 0.2)), .dense(units: 2)]),
            try analyzeTestModel("activations_softmax_ce", input: .features(4), batch: 3, loss: .softmaxCrossEntropy,
                        optimizer: .sgd(lr: 0.05, momentum: 0.9, nesterov: true),
                        [.dense(units: 5), .activation(.sigmoid), .dense(units: 5), .activation(.tanh), .dense(units: 5), .activation(.gelu),
                         .dense(units: 5), .activation(.geluTanh), .activation(.identity), .activation(.leakyReLU()), .dense(units: 5),
                         .activation(.silu), .dense(units: 3)]),
            try analyzeTestModel("layernorm_vector_mse", input: .features(5), batch: 3, loss: .mse,
                        optimizer: .sgd(lr: 0.1, weightDecay: 0.01),
                        [.dense(units: 6), .layerNorm(), .activation(.tanh), .dense(units: 4),
                         .layerNorm(eps: 0.1, affine: false), .dense(units: 2)]),
            try analyzeTestModel("conv_s2_pad1_relu_bce", input: .sequence(length: 9, channels: 2), loss: .bceWithLogits,
                        optimizer: .adam(lr: 0.01),
                        [.conv1d(filters: 3, kernel: 3, stride: 2, padding: .explicit(1)), .activation(.relu), .flatten,
                         .dense(units: 2)]),
            try analyzeTestModel("conv_d2_same_even_same_gap_ce", input: .sequence(length: 8, channels: 2),
                        loss: .softmaxCrossEntropy, optimizer: .adamw(lr: 0.01),
                        [.conv1d(filters: 4, kernel: 3, padding: .same, dilation: 2), .activation(.tanh),
                         .conv1d(filters: 2, kernel: 2, padding: .same, bias: false), .globalAvgPool1d, .dense(units: 3)]),
            try analyzeTestModel("conv_s3_d2_valid_nobias_mse", input: .sequence(length: 12, channels: 2), loss: .mse,
                        optimizer: .adam(lr: 0.01, weightDecay: 0.01),
                        [.conv1d(filters: 2, kernel: 2, stride: 3, padding: .valid, dilation: 2, bias: false), .activation(.gelu),
                         .globalAvgPool1d, .dense(units: 2)]),
            try analyzeTestModel("conv_valid_max3s2_avg2s1_mse", input: .sequence(length: 10, channels: 2), loss: .mse,
                        optimizer: .sgd(lr: 0.05, momentum: 0.5, nesterov: true, weightDecay: 0.001),
                        [.conv1d(filters: 3, kernel: 3, padding: .valid), .maxPool1d(kernel: 3, stride: 2),
                         .avgPool1d(kernel: 2, stride: 1), .flatten, .dense(units: 2)]),
            try analyzeTestModel("avg2s3_conv_leaky_max2s3_bce", input: .sequence(length: 20, channels: 2), loss: .bceWithLogits,
                        optimizer: .adamw(lr: 0.01, weightDecay: 0.1),
                        [.avgPool1d(kernel: 2, stride: 3), .conv1d(filters: 3, kernel: 2), .activation(.leakyReLU(negativeSlope: 0.1)),
                         .maxPool1d(kernel: 2, stride: 3), .flatten, .dense(units: 1)]),
            try analyzeTestModel("conv_pad2_gelutanh_max2_ln_ce", input: .sequence(length: 8, channels: 2),
                        loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.05, momentum: 0.9, weightDecay: 0.001),
                        [.conv1d(filters: 4, kernel: 3, padding: .explicit(2)), .activation(.geluTanh), .maxPool1d(kernel: 2, stride: 2),
                         .layerNorm(), .flatten, .dense(units: 3)]),
            try analyzeTestModel("nested_residual_vector_ce", input: .features(4), batch: 3, loss: .softmaxCrossEntropy,
                        optimizer: .adam(lr: 0.01),
                        [.dense(units: 4),
                         .residual([.dense(units: 4), .activation(.tanh), .residual([.layerNorm(), .dense(units: 4), .activation(.gelu)])]),
                         .dense(units: 3)]),
            try analyzeTestModel("triple_nested_residual_mse", input: .features(3), loss: .mse,
                        optimizer: .adamw(lr: 0.005, beta1: 0.8, beta2: 0.99, eps: 1e-6),
                        [.residual([.residual([.residual([.dense(units: 3), .activation(.sigmoid)])]), .dense(units: 3)]),
                         .dense(units: 2)]),
            try analyzeTestModel("residual_conv_sequence_mse", input: .sequence(length: 6, channels: 3), loss: .mse,
                        optimizer: .sgd(lr: 0.02),
                        [.residual([.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.relu),
                                    .conv1d(filters: 3, kernel: 3, padding: .same, dilation: 2)]),
                         .layerNorm(),
                         .residual([.layerNorm(affine: false), .residual([.conv1d(filters: 3, kernel: 1)])]),
                         .flatten, .dense(units: 2)]),
            try analyzeTestModel("dense1_bce", input: .features(2), batch: 4, loss: .bceWithLogits,
                        optimizer: .adam(lr: 0.02, beta1: 0.5, beta2: 0.9, eps: 1e-7), [.dense(units: 1)]),
        ]
    }

    static let allCombinations: [(any CBackend, ScalarType)] = [
        (TCCBackend(), .f32), (TCCBackend(), .f64), (CCBackend(), .f32), (CCBackend(), .f64),
    ]

    /// The matrix covers every layer type, every loss and every optimizer variant.
    func testMatrixCoversEveryLayerLossAndOptimizer() throws {
        let models = try Self.matrixModels()
        var types = Set<String>()
        func walk(_ layers: [Layer]) {
            for l in layers {
                types.insert(l.typeName)
                if case .residual(let body) = l { walk(body) }
            }
        }
        models.forEach { walk($0.model.layers) }
        XCTAssertEqual(types, Set(Layer.typeNames))
        XCTAssertEqual(Set(models.map(\.model.loss.typeName)), Set(Loss.allCases.map(\.typeName)))
        var variants = Set<String>()
        for m in models {
            switch m.model.optimizer {
            case .sgd(_, let momentum, let nesterov, let wd):
                variants.insert(momentum == 0 ? "sgd" : nesterov ? "sgd nesterov" : "sgd momentum")
                if wd != 0 { variants.insert("sgd weight decay") }
            case .adam(_, _, _, _, let wd): variants.insert(wd == 0 ? "adam" : "adam weight decay")
            case .adamw: variants.insert("adamw")
            }
        }
        XCTAssertEqual(variants, ["sgd", "sgd momentum", "sgd nesterov", "sgd weight decay", "adam",
                                  "adam weight decay", "adamw"])
    }

    /// tcc in both dtypes for every model; cc in f32 for the 1st, 3rd, ... model and f64 for the others.
    /// Every model on both back ends in both scalar types.
    static func jobs(_ models: [ModelAnalysis]) -> [CheckJob] {
        models.flatMap { a in allCombinations.map { CheckJob(a, $0.0, $0.1) } }
    }

    func testGradientCheckMatrixModels() throws {
        try runChecks(Self.jobs(try Self.matrixModels()))
    }

    /// Models with frozen parameters (docs/CONVENTIONS.md "Trainable parameters"): a frozen
    /// prefix, a frozen layer in the middle of a residual block, bias-only conv, layernorm and
    /// dense, everything frozen but the head, and a weight-only layernorm. Their reports have
    /// no input row and a row of the frozen parameters after the steps, compared exactly.
    static func frozenModels() throws -> [ModelAnalysis] {
        func model(_ name: String, _ input: InputShape, _ loss: Loss, _ opt: Optimizer, _ t: [String: Trainable],
                   _ layers: [Layer]) throws -> ModelAnalysis {
            try Model(name: name, input: input, batch: 3, layers: layers, loss: loss, optimizer: opt, trainable: t).analyze()
        }
        return [
            try model("frozen_prefix_mse", .features(4), .mse, .sgd(lr: 0.1, momentum: 0.9, weightDecay: 0.01),
                      ["layers[0]": .frozen, "layers[2]": .frozen],
                      [.dense(units: 5), .activation(.tanh), .dense(units: 4), .activation(.relu), .dense(units: 3)]),
            try model("frozen_in_residual_ce", .features(4), .softmaxCrossEntropy, .adam(lr: 0.01, weightDecay: 0.01),
                      ["layers[1].layers[1]": .frozen],
                      [.dense(units: 4), .residual([.layerNorm(), .dense(units: 4), .activation(.gelu), .dense(units: 4)]),
                       .dense(units: 3)]),
            try model("bias_only_conv_ln_dense_bce", .sequence(length: 6, channels: 2), .bceWithLogits, .adamw(lr: 0.01),
                      ["layers[0]": .biasOnly, "layers[2]": .biasOnly, "layers[4]": .biasOnly],
                      [.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.tanh), .layerNorm(), .flatten,
                       .dense(units: 2)]),
            try model("frozen_all_but_head_huber", .sequence(length: 6, channels: 3), .huber(delta: 0.5), .sgd(lr: 0.05),
                      ["layers[0]": .frozen, "layers[1]": .frozen, "layers[2]": .frozen],
                      [.residual([.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.silu)]), .layerNorm(),
                       .residual([.conv1d(filters: 3, kernel: 1)]), .flatten, .dense(units: 2)]),
            try model("weight_only_ln_mse", .features(4), .mse, .adam(lr: 0.01),
                      ["layers[1]": .weightOnly, "layers[3]": .frozen],
                      [.dense(units: 4), .layerNorm(), .activation(.relu), .dense(units: 4), .dense(units: 2)]),
        ]
    }

    func testFrozenModelsOnBothBackEndsAndDtypes() throws {
        try runChecks(Self.jobs(try Self.frozenModels()))
    }

    func testExampleModels() throws {
        let models = try exampleModelFiles(bench: false)
        XCTAssertEqual(models.map(\.model.name), ["breast_cancer", "diabetes", "diabetes_huber", "digits_conv", "digits_mlp", "digits_mlp_finetune", "iris"])
        try runChecks(Self.jobs(models))
    }

    func testBenchModels() throws {
        let models = try exampleModelFiles(bench: true)
        XCTAssertEqual(models.map(\.model.name), ["w1_digits_mlp", "w2_mnist_mlp", "w3_conv1d_ln", "w3_conv1d_ln_bias",
                                                 "w3_conv1d_ln_last", "w4_resmlp", "w4_resmlp_bias", "w4_resmlp_last"])
        let jobs = Self.jobs(models)
        try runChecks(jobs)
    }

    // MARK: running

    /// One `checkGradients` call.
    struct CheckJob: Sendable {
        var analysis: ModelAnalysis
        var backend: any CBackend
        var scalar: ScalarType
        init(_ analysis: ModelAnalysis, _ backend: any CBackend, _ scalar: ScalarType) {
            self.analysis = analysis
            self.backend = backend
            self.scalar = scalar
        }
        var label: String { "\(analysis.model.name) \(backend.name) \(scalar.rawValue)" }
    }

    /// Collects results from worker threads.
    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var failures: [String] = []
        private(set) var lines: [String] = []
        func add(line: String, failure: String?) {
            lock.lock()
            defer { lock.unlock() }
            lines.append(line)
            if let failure { failures.append(failure) }
        }
    }

    /// Runs the jobs two at a time and fails with every failing row.
    func runChecks(_ jobs: [CheckJob], file: StaticString = #filePath, line: UInt = #line) throws {
        let results = Results()
        let start = Date()
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            let job = jobs[i]
            let t0 = Date()
            do {
                let r = try checkGradients(job.analysis, backend: job.backend, scalar: job.scalar, seed: 1, steps: 2)
                let bad = r.rows.filter { !$0.passed }
                let worst = r.rows.map(\.maxRelativeError).max() ?? 0
                let summary = String(format: "%@: %d rows, worst rel err %.2e, %.2f s", job.label, r.rows.count, worst,
                                     Date().timeIntervalSince(t0))
                let failure = bad.isEmpty ? nil : "\(job.label): " + bad.map {
                    String(format: "%@ rel err %.3e (abs %.3e) > tol %.1e", $0.name, $0.maxRelativeError,
                           $0.maxAbsoluteError, $0.tolerance)
                }.joined(separator: "; ")
                results.add(line: summary, failure: failure)
                // Every report has init, loss, each parameter, input and the parameters after the steps.
                if r.rows.count != job.analysis.parameters.count + 4 {
                    results.add(line: "", failure: "\(job.label): \(r.rows.count) rows, expected "
                                + "\(job.analysis.parameters.count + 4): \(r.rows.map(\.name))")
                }
            } catch {
                results.add(line: "\(job.label): error", failure: "\(job.label): threw \(error)")
            }
        }
        for l in results.lines.sorted() where !l.isEmpty { print("check " + l) }
        print(String(format: "%d checks in %.1f s", jobs.count, Date().timeIntervalSince(start)))
        XCTAssertTrue(results.failures.isEmpty, "failing rows:\n" + results.failures.sorted().joined(separator: "\n"),
                      file: file, line: line)
    }
}
