import XCTest
import ModelSpec
@testable import Reference

/// Analytic gradients against central finite differences, on a matrix of small models that
/// together cover every layer, every layer option and every loss.
final class GradientCheckTests: XCTestCase {
    /// The finite-difference step.
    static let h = 1e-5
    /// The largest accepted error per tensor: `max |g - fd| / max(max |fd|, 1e-8)`.
    static let tolerance = 1e-6

    /// Draws parameters (the model's initial values plus U(-0.3, 0.3), so layernorm's
    /// weights and biases are not 1 and 0), inputs in U(-1, 1) and targets, redrawing until
    /// every relu/leaky_relu input and every maxpool top-two gap is more than 10h away from
    /// its kink; then checks every parameter tensor and the input.
    func check(_ name: String, input: InputShape, batch: Int = 2, loss: Loss, trainable: [String: Trainable] = [:],
               _ layers: [Layer], file: StaticString = #filePath, line: UInt = #line) throws {
        let analysis = try analyze(name, input: input, batch: batch, loss: loss, trainable: trainable, layers)
        let interpreter = ReferenceInterpreter(analysis)
        for attempt in 0..<20 {
            var rng = Xoshiro256StarStar(seed: 1000 + UInt64(attempt))
            let parameters = zip(interpreter.initialParameters(seed: UInt64(attempt)),
                                 uniformValues(analysis.parameterCount, -0.3, 0.3, &rng)).map { $0 + $1 }
            let x = uniformValues(analysis.inputElements, -1, 1, &rng)
            let targets = randomTargets(analysis, rows: batch, &rng)
            let margin = try kinkDistance(interpreter, parameters: parameters, input: x)
            guard margin > 10 * Self.h else { continue }
            let result = try checkGradients(interpreter, parameters: parameters, input: x, targets: targets, h: Self.h)
            let worst = result.worst
            let padded = name.padding(toLength: 34, withPad: " ", startingAt: 0)
            print("FD \(padded) params \(analysis.parameterCount)  worst \(String(format: "%.2e", worst.error))"
                  + "  (\(worst.tensor))")
            XCTAssertEqual(result.errors.count, analysis.parameters.count + 1, file: file, line: line)
            for (tensor, error) in result.errors {
                XCTAssertLessThanOrEqual(error, Self.tolerance, "\(name): \(tensor)", file: file, line: line)
            }
            return
        }
        XCTFail("\(name): no draw kept every kink more than 10h away", file: file, line: line)
    }

    func testDenseReLUMSEWithSeveralOutputs() throws {
        try check("mlp_relu_mse", input: .features(4), batch: 3, loss: .mse,
                  [.dense(units: 5), .activation(.relu), .dense(units: 3)])
    }

    /// delta 0.3: some of the differences fall inside it, some outside.
    func testHuberWithSiLU() throws {
        try check("silu_huber03", input: .features(4), batch: 3, loss: .huber(delta: 0.3),
                  [.dense(units: 5), .activation(.silu), .dense(units: 2)])
    }

    func testDenseWithoutBiasLeakyReLUBCE() throws {
        try check("dense_nobias_leaky02_bce", input: .features(3), batch: 3, loss: .bceWithLogits,
                  [.dense(units: 4, bias: false), .activation(.leakyReLU(negativeSlope: 0.2)), .dense(units: 2)])
    }

    func testEverySmoothActivationSoftmaxCE() throws {
        try check("activations_softmax_ce", input: .features(4), batch: 3, loss: .softmaxCrossEntropy,
                  [.dense(units: 5), .activation(.sigmoid), .dense(units: 5), .activation(.tanh), .dense(units: 5), .activation(.gelu),
                   .dense(units: 5), .activation(.geluTanh), .activation(.identity), .activation(.leakyReLU()), .dense(units: 5),
                   .activation(.silu), .dense(units: 3)])
    }

    func testLayerNormOnVectorsAffineAndNotWithCustomEps() throws {
        try check("layernorm_vector_mse", input: .features(5), batch: 3, loss: .mse,
                  [.dense(units: 6), .layerNorm(), .activation(.tanh), .dense(units: 4),
                   .layerNorm(eps: 0.1, affine: false), .dense(units: 2)])
    }

    func testConvStride2IntegerPaddingBCE() throws {
        try check("conv_s2_pad1_relu_bce", input: .sequence(length: 9, channels: 2), loss: .bceWithLogits,
                  [.conv1d(filters: 3, kernel: 3, stride: 2, padding: .explicit(1)), .activation(.relu), .flatten, .dense(units: 2)])
    }

    func testConvDilation2SamePaddingEvenKernelNoBiasGlobalPoolCE() throws {
        try check("conv_d2_same_even_same_gap_ce", input: .sequence(length: 8, channels: 2), loss: .softmaxCrossEntropy,
                  [.conv1d(filters: 4, kernel: 3, padding: .same, dilation: 2), .activation(.tanh),
                   .conv1d(filters: 2, kernel: 2, padding: .same, bias: false), .globalAvgPool1d, .dense(units: 3)])
    }

    func testConvStride3Dilation2ValidNoBiasGELU() throws {
        try check("conv_s3_d2_valid_nobias_mse", input: .sequence(length: 12, channels: 2), loss: .mse,
                  [.conv1d(filters: 2, kernel: 2, stride: 3, padding: .valid, dilation: 2, bias: false), .activation(.gelu),
                   .globalAvgPool1d, .dense(units: 2)])
    }

    func testPoolsWithStrideBelowKernel() throws {
        try check("conv_valid_max3s2_avg2s1_mse", input: .sequence(length: 10, channels: 2), loss: .mse,
                  [.conv1d(filters: 3, kernel: 3, padding: .valid), .maxPool1d(kernel: 3, stride: 2),
                   .avgPool1d(kernel: 2, stride: 1), .flatten, .dense(units: 2)])
    }

    func testPoolsWithStrideAboveKernel() throws {
        try check("avg2s3_conv_leaky_max2s3_bce", input: .sequence(length: 20, channels: 2), loss: .bceWithLogits,
                  [.avgPool1d(kernel: 2, stride: 3), .conv1d(filters: 3, kernel: 2), .activation(.leakyReLU(negativeSlope: 0.1)),
                   .maxPool1d(kernel: 2, stride: 3), .flatten, .dense(units: 1)])
    }

    func testMaxPoolStrideEqualsKernelLayerNormOnSequence() throws {
        try check("conv_pad2_gelutanh_max2_ln_ce", input: .sequence(length: 8, channels: 2), loss: .softmaxCrossEntropy,
                  [.conv1d(filters: 4, kernel: 3, padding: .explicit(2)), .activation(.geluTanh), .maxPool1d(kernel: 2, stride: 2),
                   .layerNorm(), .flatten, .dense(units: 3)])
    }

    func testResidualInsideResidualOnVectors() throws {
        try check("nested_residual_vector_ce", input: .features(4), batch: 3, loss: .softmaxCrossEntropy,
                  [.dense(units: 4),
                   .residual([.dense(units: 4), .activation(.tanh), .residual([.layerNorm(), .dense(units: 4), .activation(.gelu)])]),
                   .dense(units: 3)])
    }

    func testThreeNestedResidualsOnTheInput() throws {
        try check("triple_nested_residual_mse", input: .features(3), loss: .mse,
                  [.residual([.residual([.residual([.dense(units: 3), .activation(.sigmoid)])]), .dense(units: 3)]),
                   .dense(units: 2)])
    }

    func testResidualWithConvOnSequences() throws {
        try check("residual_conv_sequence_mse", input: .sequence(length: 6, channels: 3), loss: .mse,
                  [.residual([.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.relu),
                              .conv1d(filters: 3, kernel: 3, padding: .same, dilation: 2)]),
                   .layerNorm(),
                   .residual([.layerNorm(affine: false), .residual([.conv1d(filters: 3, kernel: 1)])]),
                   .flatten, .dense(units: 2)])
    }

    func testSingleOutputBCE() throws {
        try check("dense1_bce", input: .features(2), batch: 4, loss: .bceWithLogits, [.dense(units: 1)])
    }

    // MARK: freezing (docs/CONVENTIONS.md "Trainable parameters"): trainable tensors match finite
    // differences, frozen ones have a gradient of exactly 0.

    func testFrozenPrefix() throws {
        try check("frozen_prefix_mse", input: .features(4), batch: 3, loss: .mse,
                  trainable: ["layers[0]": .frozen, "layers[2]": .frozen],
                  [.dense(units: 5), .activation(.tanh), .dense(units: 4), .activation(.relu), .dense(units: 3)])
    }

    func testFrozenMiddleLayerInsideAResidual() throws {
        try check("frozen_in_residual_ce", input: .features(4), batch: 3, loss: .softmaxCrossEntropy,
                  trainable: ["layers[1].layers[1]": .frozen],
                  [.dense(units: 4), .residual([.layerNorm(), .dense(units: 4), .activation(.gelu), .dense(units: 4)]),
                   .dense(units: 3)])
    }

    func testBiasOnlyConvLayerNormAndDense() throws {
        try check("bias_only_conv_ln_dense_bce", input: .sequence(length: 6, channels: 2), loss: .bceWithLogits,
                  trainable: ["layers[0]": .biasOnly, "layers[2]": .biasOnly, "layers[4]": .biasOnly],
                  [.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.tanh), .layerNorm(), .flatten,
                   .dense(units: 2)])
    }

    func testEverythingFrozenButTheHead() throws {
        try check("frozen_all_but_head_huber", input: .sequence(length: 6, channels: 3), loss: .huber(delta: 0.5),
                  trainable: ["layers[0]": .frozen, "layers[1]": .frozen, "layers[2]": .frozen],
                  [.residual([.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.silu)]), .layerNorm(),
                   .residual([.conv1d(filters: 3, kernel: 1)]), .flatten, .dense(units: 2)])
    }

    /// A frozen parameter keeps its value bit for bit through the reference optimizer (weight
    /// decay included), and its state stays 0; the others move.
    func testReferenceOptimizerLeavesFrozenParametersAlone() throws {
        let a = try analyze("opt_frozen", input: .features(3), batch: 2, loss: .mse,
                            optimizer: .adamw(lr: 0.1, weightDecay: 0.1), trainable: ["layers[0]": .biasOnly],
                            [.dense(units: 2), .dense(units: 1)])
        let interpreter = ReferenceInterpreter(a)
        let start = interpreter.initialParameters(seed: 3)
        let mask = interpreter.trainableMask
        XCTAssertEqual(mask, Array(repeating: false, count: 6) + Array(repeating: true, count: 2 + 3))
        var opt = ReferenceOptimizer(a.model.optimizer, parameterCount: a.parameterCount)
        opt.trainable = mask
        var p = start
        for _ in 0..<3 {
            let g = try interpreter.gradients(parameters: p, input: [0.5, -1, 0.25, 1, 0, -0.5], targets: .values([0.3, -0.2]))
            XCTAssertEqual(Array(g.parameters[0..<6]), Array(repeating: 0, count: 6))
            try opt.update(parameters: &p, gradients: g.parameters)
        }
        XCTAssertEqual(Array(p[0..<6]), Array(start[0..<6]))
        XCTAssertTrue(zip(p[6...], start[6...]).allSatisfy { $0 != $1 })
        XCTAssertEqual(opt.state.map { Array($0[0..<6]) }, [Array(repeating: 0, count: 6), Array(repeating: 0, count: 6)])
    }
}
