import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// The register-tile products, the product-form conv1d and the lane-sum layernorm on shapes
/// that are multiples of no tile (rows % 6, columns % 16, reductions longer than one packed
/// block, conv padding wider than the kernel, strides), against the reference interpreter; the
/// results with 2 OpenMP threads bit for bit equal to 1 thread; and the precompiled helpers
/// (tcc) equal to the cc build's.
final class ProductKernelTests: XCTestCase {
    /// dense 37 -> 13 with batch 7, and friends.
    static func oddModels() throws -> [ModelAnalysis] {
        [
            try analyzeTestModel("odd_dense", input: .features(37), batch: 7, loss: .mse, optimizer: .sgd(lr: 0.01),
                                 [.dense(units: 13), .activation(.relu), .dense(units: 5)]),
            try analyzeTestModel("odd_activations", input: .features(37), batch: 7, loss: .softmaxCrossEntropy,
                                 optimizer: .adam(lr: 0.01),
                                 [.dense(units: 29), .activation(.geluTanh), .dense(units: 19), .activation(.tanh), .dense(units: 17), .activation(.sigmoid),
                                  .dense(units: 23), .activation(.leakyReLU()), .dense(units: 9), .activation(.gelu), .dense(units: 3)]),
            // 1100 inputs: two packed blocks of the reduction (1024 floats of 16 columns at most).
            try analyzeTestModel("long_reduction", input: .features(1100), batch: 5, loss: .bceWithLogits,
                                 optimizer: .sgd(lr: 0.01, momentum: 0.9),
                                 [.dense(units: 33), .activation(.relu),
                                  .residual([.layerNorm(), .dense(units: 41), .activation(.geluTanh), .dense(units: 33)]),
                                  .dense(units: 2)]),
            // The weight gradient of the first layer (150 x 300 from 70 rows) packs dout^T first:
            // dout is bigger than the level-1 cache, x too big to read in place; 70 rows, no 8 x 8 blocks.
            try analyzeTestModel("transposed_dout", input: .features(300), batch: 70, loss: .mse,
                                 optimizer: .sgd(lr: 0.01),
                                 [.dense(units: 150), .activation(.tanh), .dense(units: 3)]),
            // A head of 5 outputs (fewer than a tile is wide) on 21 rows: out^T in tiles, 19-long reductions.
            try analyzeTestModel("narrow_head", input: .features(37), batch: 21, loss: .softmaxCrossEntropy,
                                 optimizer: .sgd(lr: 0.01),
                                 [.dense(units: 19), .activation(.relu), .dense(units: 5)]),
            try analyzeTestModel("odd_conv", input: .sequence(length: 13, channels: 1), batch: 3, loss: .mse,
                                 optimizer: .adamw(lr: 0.01),
                                 [.conv1d(filters: 17, kernel: 3, padding: .explicit(4)), .activation(.geluTanh),
                                  .conv1d(filters: 9, kernel: 4, padding: .same), .activation(.relu),
                                  .conv1d(filters: 21, kernel: 5, stride: 3, padding: .explicit(1)), .layerNorm(),
                                  .globalAvgPool1d, .dense(units: 2)]),
        ]
    }

    func testLargeWeightGradientsReadAPackedTransposeOfDout() throws {
        let a = try Self.oddModels().first { $0.model.name == "transposed_dout" }!
        let code = compile(a, options: CompileOptions(scalar: .f32)).code.source
        XCTAssertTrue(code.contains("/* dout^T packed once (150 rows of 70)"), "layers.0's weight gradient packs dout^T")
        XCTAssertTrue(code.contains("nn_pack_t_f32(150, 70, 70, dout, 150, at);"))
        XCTAssertFalse(code.contains("(3 rows of 70)"), "a small dout (3 x 70) is read in place")
    }

    func testNarrowOutputsAreComputedTransposed() throws {
        let a = try Self.oddModels().first { $0.model.name == "narrow_head" }!
        for (scalar, tile) in [(ScalarType.f32, 16), (.f64, 8)] {
            let code = compile(a, options: CompileOptions(scalar: scalar)).code.source
            XCTAssertTrue(code.contains("/* out^T in register tiles (5 outputs fill no tile of \(tile))"), "\(scalar)")
            XCTAssertTrue(code.contains("out[i * 5 + j] = out_t[j * 21 + i];"), "\(scalar)")
        }
        // The first layer's 19 outputs fill a tile: out = x weight^T as usual.
        for scalar in ScalarType.allCases {
            XCTAssertFalse(compile(a, options: CompileOptions(scalar: scalar)).code.source.contains("(19 outputs"), "\(scalar)")
        }
    }

    func testOddShapesMatchTheReferenceOnBothBackEnds() throws {
        for a in try Self.oddModels() {
            for backend in [TCCBackend() as any CBackend, CCBackend()] {
                let r = try checkGradients(a, backend: backend, scalar: .f64, seed: 3, steps: 2)
                for row in r.rows {
                    XCTAssertLessThanOrEqual(row.maxRelativeError, CheckTolerance.f64,
                                             "\(a.model.name) \(backend.name) f64: \(row.name)")
                }
            }
            let r32 = try checkGradients(a, backend: CCBackend(), scalar: .f32, seed: 3, steps: 0)
            XCTAssertTrue(r32.passed, "\(a.model.name) cc f32: \(r32.rows.filter { !$0.passed }.map(\.name))")
        }
    }

    /// Big enough that the products and the conv1d sample loops take the parallel path.
    static func threadedModels() throws -> [ModelAnalysis] {
        [
            try analyzeTestModel("threaded_mlp", input: .features(256), batch: 64, loss: .softmaxCrossEntropy,
                                 optimizer: .sgd(lr: 0.01),
                                 [.dense(units: 264), .activation(.relu), .residual([.layerNorm(), .dense(units: 264), .activation(.geluTanh)]),
                                  .dense(units: 10)]),
            try analyzeTestModel("threaded_conv", input: .sequence(length: 64, channels: 32), batch: 8, loss: .mse,
                                 optimizer: .sgd(lr: 0.01),
                                 [.conv1d(filters: 40, kernel: 5, padding: .explicit(2)), .activation(.relu), .flatten,
                                  .dense(units: 3)]),
            // conv1d weight gradients as strips of output channels (6s and 5s with a last panel of 6
            // columns; 5s only), layernorm rows in chunks of 136 with a last chunk of 104 (1056 rows),
            // its dweight and dbias in two parts of 16 columns (the second layernorm, 21,120 values, stays one call).
            try analyzeTestModel("threaded_conv_ln", input: .sequence(length: 66, channels: 18), batch: 16,
                                 loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.01),
                                 [.conv1d(filters: 32, kernel: 3, padding: .explicit(1)), .activation(.relu), .layerNorm(),
                                  .conv1d(filters: 20, kernel: 5, padding: .explicit(2)), .activation(.relu), .layerNorm(),
                                  .flatten, .dense(units: 5)]),
        ]
    }

    /// Trains `steps` steps from the same start and returns the parameters and the losses.
    func train(_ a: ModelAnalysis, _ backend: any CBackend, steps: Int) throws -> (params: [Double], losses: [Double]) {
        let m = try CompiledModel(analysis: a, backend: backend, scalar: .f32)
        m.initialize(seed: 5)
        let batch = SyntheticBatch(a, seed: 5).rounded(to: .f32)
        try m.setBatch(x: batch.x, labels: batch.labels, values: batch.values)
        let losses = (0..<steps).map { _ in m.trainStep(learningRate: 0.01) }
        return (m.parameters, losses)
    }

    func testTwoThreadsGiveTheSameBitsAsOne() throws {
        for a in try Self.threadedModels() {
            let code = compile(a, options: CompileOptions(scalar: .f32)).code.source
            XCTAssertTrue(code.contains("NN_PARALLEL_FOR\n    for"), "\(a.model.name) has a parallel loop")
            if a.model.name == "threaded_conv_ln" {
                for part in ["strips of output channels shared among threads", "NN_PARALLEL_FOR  /* chunks of 136 rows */",
                             "/* the last 104 rows */", "NN_PARALLEL_FOR  /* columns 16 at a time */",
                             "nn_tile_f32(6, 1, 6, 66, ap, 1, 6,"] {
                    XCTAssertTrue(code.contains(part), "threaded_conv_ln: \(part)")
                }
            }
            let one = try train(a, try benchBackend("cc", threads: 1), steps: 3)
            let two = try train(a, try benchBackend("cc", threads: 2), steps: 3)
            XCTAssertEqual(one.losses, two.losses, a.model.name)
            XCTAssertTrue(one.params == two.params, "\(a.model.name): parameters differ after 3 steps")
            XCTAssertNotEqual(one.params, try train(a, try benchBackend("cc", threads: 1), steps: 2).params,
                              "the steps change the parameters")
        }
    }

    /// tcc links the precompiled helpers; their text is the cc build's, so the numbers agree
    /// (up to libm and tcc's own arithmetic outside the helpers).
    func testPrecompiledHelpersAgreeWithTheCCBuild() throws {
        XCTAssertFalse(PrecompiledHelpers.symbols.isEmpty)
        XCTAssertNotNil(PrecompiledHelpers.symbols["nn_tile_f32"])
        XCTAssertNotNil(PrecompiledHelpers.symbols["nn_gelu_tanh_grad_f64"])
        let a = try Self.threadedModels()[0]
        let cc = try train(a, CCBackend(), steps: 2), tcc = try train(a, TCCBackend(), steps: 2)
        let scale = cc.params.map(abs).max() ?? 1
        let diff = zip(cc.params, tcc.params).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(diff / scale, 1e-6, "tcc (precompiled helpers) vs cc after 2 steps, float32")
    }

    /// The optimizer loops tcc runs precompiled (nn_sgd, nn_sgd_momentum, nn_adam) against the
    /// templates' loops the cc build compiles: the same arithmetic in the same order, so the
    /// parameters and optimizer state after 3 steps agree bit for bit (measured: 0 difference).
    func testPrecompiledOptimizersAgreeWithTheTemplates() throws {
        let optimizers: [Optimizer] = [
            .sgd(lr: 0.05, weightDecay: 0.01),
            .sgd(lr: 0.05, momentum: 0.9, weightDecay: 0.01),
            .sgd(lr: 0.05, momentum: 0.8, nesterov: true),
            .adam(lr: 0.01, weightDecay: 0.01),
            .adamw(lr: 0.01, weightDecay: 0.1),
        ]
        for o in optimizers {
            let a = try analyzeTestModel("opt_\(o.typeName)", input: .features(21), batch: 6, loss: .softmaxCrossEntropy,
                                         optimizer: o, [.dense(units: 19), .activation(.relu), .dense(units: 4)])
            for scalar in [ScalarType.f32, .f64] {
                var results: [(params: [Double], state: [Double])] = []
                var start: [Double] = []
                for backend in [CCBackend() as any CBackend, TCCBackend()] {
                    let m = try CompiledModel(analysis: a, backend: backend, scalar: scalar)
                    m.initialize(seed: 9)
                    start = m.parameters
                    let batch = SyntheticBatch(a, seed: 9).rounded(to: scalar)
                    try m.setBatch(x: batch.x, labels: batch.labels, values: batch.values)
                    for _ in 0..<3 { _ = m.trainStep(learningRate: o.learningRate) }
                    results.append((m.parameters, m.optimizerState))
                }
                let (cc, tcc) = (results[0], results[1])
                let dp = zip(cc.params, tcc.params).map { abs($0 - $1) }.max() ?? .infinity
                let ds = zip(cc.state, tcc.state).map { abs($0 - $1) }.max() ?? 0
                XCTAssertEqual(dp, 0, "\(o) \(scalar): parameters, tcc vs cc")
                XCTAssertEqual(ds, 0, "\(o) \(scalar): optimizer state, tcc vs cc")
                XCTAssertNotEqual(tcc.params, start, "\(o) \(scalar): the steps move the parameters")
            }
        }
    }
}
