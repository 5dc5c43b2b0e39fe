import XCTest
import ModelSpec
import Reference

/// Forward values, losses and gradients of tiny models, worked out by hand.
final class HandComputedTests: XCTestCase {
    /// A model whose output equals its input: one dense layer with `W = I` and `b = 0`.
    func identityDense(_ features: Int, batch: Int, loss: Loss) throws -> (ReferenceInterpreter, [Double]) {
        let a = try analyze("identity", input: .features(features), batch: batch, loss: loss, [.dense(units: features)])
        var p = [Double](repeating: 0, count: a.parameterCount)
        for i in 0..<features { p[i * features + i] = 1 }
        return (ReferenceInterpreter(a), p)
    }

    func testDenseForwardLossAndGradientsByHand() throws {
        let a = try analyze("tiny", input: .features(2), batch: 1, loss: .mse, [.dense(units: 2)])
        let r = ReferenceInterpreter(a)
        // weight [[0.5, -1], [2, 0.25]] (row-major [out, in]), then bias [0.1, -0.2].
        let p = [0.5, -1, 2, 0.25, 0.1, -0.2]
        let x = [1.0, 2.0]
        // y0 = 0.5*1 + (-1)*2 + 0.1 = -1.4;  y1 = 2*1 + 0.25*2 - 0.2 = 2.3
        assertClose(try r.forward(parameters: p, input: x), [-1.4, 2.3], tolerance: 1e-15)
        // targets [0, 1]: ((-1.4 - 0)^2 + (2.3 - 1)^2) / 2 = (1.96 + 1.69) / 2 = 1.825
        let t = Targets.values([0, 1])
        assertClose(try r.loss(parameters: p, input: x, targets: t), 1.825, tolerance: 1e-15)
        let g = try r.gradients(parameters: p, input: x, targets: t)
        // dL/dy = 2 (y - t) / 2 = [-1.4, 1.3]
        // dW = dy^T x = [[-1.4*1, -1.4*2], [1.3*1, 1.3*2]] = [[-1.4, -2.8], [1.3, 2.6]];  db = dy
        assertClose(g.parameters, [-1.4, -2.8, 1.3, 2.6, -1.4, 1.3], tolerance: 1e-15)
        // dx = dy W = [-1.4*0.5 + 1.3*2, -1.4*(-1) + 1.3*0.25] = [1.9, 1.725]
        assertClose(g.input ?? [], [1.9, 1.725], tolerance: 1e-15)
        assertClose(g.output, [-1.4, 2.3], tolerance: 1e-15)
        assertClose(g.loss, 1.825, tolerance: 1e-15)
        XCTAssertNil(try r.gradients(parameters: p, input: x, targets: t, inputGradient: false).input)
    }

    func testMSEOverAllElements() throws {
        let (r, p) = try identityDense(2, batch: 2, loss: .mse)
        // z = [1, 2, 3, 4], y = [0, 2, 5, 3]: differences 1, 0, -2, 1; (1 + 0 + 4 + 1) / 4 = 1.5
        let t = Targets.values([0, 2, 5, 3])
        assertClose(try r.loss(parameters: p, input: [1, 2, 3, 4], targets: t), 1.5, tolerance: 1e-15)
        // dL/dz = 2 (z - y) / 4 = [0.5, 0, -1, 0.5]; through W = I the input gradient is the same.
        assertClose(try r.gradients(parameters: p, input: [1, 2, 3, 4], targets: t).input ?? [],
                    [0.5, 0, -1, 0.5], tolerance: 1e-15)
    }

    func testHuberIsQuadraticInsideDeltaAndLinearOutside() throws {
        let (r, p) = try identityDense(2, batch: 2, loss: .huber(delta: 1.5))
        // z = [1, 2, 3, 4], y = [0, 2, 5, 3]: d = 1, 0, -2, 1; |d| < 1.5 gives 0.5 d^2, else
        // 1.5 (|d| - 0.75): 0.5 + 0 + 1.875 + 0.5 = 2.875, mean 0.71875
        let t = Targets.values([0, 2, 5, 3])
        assertClose(try r.loss(parameters: p, input: [1, 2, 3, 4], targets: t), 0.71875, tolerance: 1e-15)
        // dL/dz = clamp(d, -1.5, 1.5) / 4 = [0.25, 0, -0.375, 0.25]
        assertClose(try r.gradients(parameters: p, input: [1, 2, 3, 4], targets: t).input ?? [],
                    [0.25, 0, -0.375, 0.25], tolerance: 1e-15)
    }

    func testBCEWithLogitsIsStableAtPlusMinus1000() throws {
        let (r, p) = try identityDense(2, batch: 2, loss: .bceWithLogits)
        let z = [1000.0, -1000, 0, 2]
        let t = Targets.values([0, 1, 1, 0.25])
        // terms max(z,0) - z y + log1p(exp(-|z|)):
        //   z=1000,  y=0:    1000 - 0 + log1p(e^-1000) = 1000
        //   z=-1000, y=1:    0 + 1000 + log1p(e^-1000) = 1000
        //   z=0,     y=1:    0 - 0 + log 2            = 0.6931471805599453
        //   z=2,     y=0.25: 2 - 0.5 + log1p(e^-2)    = 1.5 + 0.1269280110429725 = 1.6269280110429725
        // mean = (2000 + 0.6931471805599453 + 1.6269280110429725) / 4 = 500.5800187979007
        let loss = try r.loss(parameters: p, input: z, targets: t)
        XCTAssert(loss.isFinite)
        assertClose(loss, 500.5800187979007, tolerance: 1e-12)
        // dL/dz = (sigmoid(z) - y) / 4 = [(1-0)/4, (0-1)/4, (0.5-1)/4, (0.8807970779778824-0.25)/4]
        let g = try r.gradients(parameters: p, input: z, targets: t)
        assertClose(g.input ?? [], [0.25, -0.25, -0.125, 0.1576992694944706], tolerance: 1e-15)
    }

    func testSoftmaxCrossEntropyIsStableWithLogits1000() throws {
        let (r, p) = try identityDense(3, batch: 3, loss: .softmaxCrossEntropy)
        let z = [1000.0, 0, -1000, 1000, 1000, 0, 1, 2, 3]
        let t = Targets.labels([0, 2, 1])
        // row 0: logsumexp = 1000 + log(1 + e^-1000 + e^-2000) = 1000 (in double); loss 1000 - 1000 = 0
        // row 1: logsumexp = 1000 + log(2 + e^-1000) = 1000 + log 2; loss = 1000.6931471805599 - 0
        // row 2: logsumexp = 3 + log(e^-2 + e^-1 + 1) = 3.4076059644443804; loss = 3.40760... - 2 = 1.4076059644443804
        // mean = (0 + 1000.6931471805599 + 1.4076059644443804) / 3 = 334.0335843816681
        let loss = try r.loss(parameters: p, input: z, targets: t)
        XCTAssert(loss.isFinite)
        assertClose(loss, 334.0335843816681, tolerance: 1e-12)
        // dL/dz = (softmax - onehot) / 3:
        //   row 0: ([1, 0, 0] - [1, 0, 0]) / 3 = 0;  row 1: ([0.5, 0.5, 0] - [0, 0, 1]) / 3
        //   row 2: (softmax([1, 2, 3]) - [0, 1, 0]) / 3 = ([0.0900, 0.2447, 0.6652] - [0, 1, 0]) / 3
        let g = try r.gradients(parameters: p, input: z, targets: t)
        assertClose(g.input ?? [], [0, 0, 0, 0.5 / 3, 0.5 / 3, -1.0 / 3,
                                    0.030010191056793485, -0.25175717631506744, 0.22174698525827397], tolerance: 1e-15)
    }

    /// The output of a model made of one activation layer on `x`.
    func activation(_ layer: Layer, _ x: [Double]) throws -> [Double] {
        let a = try analyze("act", input: .features(x.count), batch: 1, loss: .mse, [layer])
        return try ReferenceInterpreter(a).forward(parameters: [], input: x)
    }

    func testActivationValues() throws {
        let x = [-1.5, -0.25, 0.5, 2]
        assertClose(try activation(.activation(.relu), x), [0, 0, 0.5, 2], tolerance: 0)
        // negative side times the slope: -1.5*0.1 = -0.15, -0.25*0.1 = -0.025
        assertClose(try activation(.activation(.leakyReLU(negativeSlope: 0.1)), x), [-0.15, -0.025, 0.5, 2], tolerance: 1e-16)
        assertClose(try activation(.activation(.identity), x), x, tolerance: 0)
        // 1 / (1 + e^-x)
        assertClose(try activation(.activation(.sigmoid), x),
                    [0.18242552380635635, 0.4378234991142019, 0.6224593312018546, 0.8807970779778824], tolerance: 1e-15)
        assertClose(try activation(.activation(.tanh), x),
                    [-0.9051482536448664, -0.24491866240370913, 0.46211715726000974, 0.9640275800758169], tolerance: 1e-15)
        // 0.5 x (1 + erf(x / sqrt 2)), e.g. gelu(2) = 2 * Phi(2) = 2 * 0.97724986805182 = 1.95449973610364
        assertClose(try activation(.activation(.gelu), x),
                    [-0.1002108019032871, -0.10032341857926907, 0.34573123063700656, 1.9544997361036416], tolerance: 1e-15)
        // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        assertClose(try activation(.activation(.geluTanh), x),
                    [-0.10042842301976708, -0.100324649298315, 0.34571400982514394, 1.954597694087775], tolerance: 1e-15)
        // x / (1 + e^-x)
        assertClose(try activation(.activation(.silu), x),
                    [-0.2736382857095345, -0.10945587477855048, 0.3112296656009273, 1.7615941559557646], tolerance: 1e-15)
    }

    func testReLUAndLeakyGradientAtExactlyZero() throws {
        // mse against 0 on x = [0, 1]: dL/dy = 2 y / 2 = y, and dy/dx at x = 0 is 0 (relu)
        // or the slope (leaky), as PyTorch's backward gives.
        for (layer, atZero) in [(Layer.activation(.relu), 0.0), (.activation(.leakyReLU(negativeSlope: 0.3)), 0.3)] {
            let a = try analyze("kink", input: .features(2), batch: 1, loss: .mse, [.dense(units: 2), layer])
            let r = ReferenceInterpreter(a)
            // W = I, b = [0, 0]: the activation sees x itself. Target [-1, 0]: dL/dy = y - t = [1, 1].
            let g = try r.gradients(parameters: [1, 0, 0, 1, 0, 0], input: [0, 1], targets: .values([-1, 0]))
            assertClose(g.input ?? [], [atZero, 1], tolerance: 0, "\(layer)")
        }
    }

    func testConvSamePaddingWithEvenKernelPadsOnTheRight() throws {
        // kernel 2, dilation 1, "same": total 1, left 0, right 1; y[t] = w0 x[t] + w1 x[t+1] + b, x[4] = 0
        let a = try analyze("conv_same", input: .sequence(length: 4, channels: 1), batch: 1, loss: .mse,
                            [.conv1d(filters: 1, kernel: 2, padding: .same), .flatten])
        // weight [1, 1, 2] = [10, 1], bias 0.5; x = [1, 2, 3, 4]:
        // [10*1 + 2, 10*2 + 3, 10*3 + 4, 10*4 + 0] + 0.5 = [12.5, 23.5, 34.5, 40.5]
        let y = try ReferenceInterpreter(a).forward(parameters: [10, 1, 0.5], input: [1, 2, 3, 4])
        assertClose(y, [12.5, 23.5, 34.5, 40.5], tolerance: 0)
    }

    func testConvStrideDilationPaddingAndChannelsByHand() throws {
        // L = 5, 2 channels, 1 filter, kernel 2, stride 2, padding 1, dilation 2, no bias:
        // out length = floor((5 + 2 - 2*1 - 1) / 2) + 1 = 3; tap j of output t reads x[2t + 2j - 1].
        let a = try analyze("conv_sd", input: .sequence(length: 5, channels: 2), batch: 1, loss: .mse,
                            [.conv1d(filters: 1, kernel: 2, stride: 2, padding: .explicit(1), dilation: 2, bias: false),
                             .flatten])
        // x[p] = (p+1, 10(p+1)) position-major; W[0, c, j]: channel 0 [1, 2], channel 1 [0.1, 0.01].
        let x = [1.0, 10, 2, 20, 3, 30, 4, 40, 5, 50]
        // t=0: x[-1] = 0; x[1]: 2*2 + 0.01*20 = 4.2
        // t=1: x[1]: 1*2 + 0.1*20 = 4; x[3]: 2*4 + 0.01*40 = 8.4; total 12.4
        // t=2: x[3]: 1*4 + 0.1*40 = 8; x[5] = 0; total 8
        let y = try ReferenceInterpreter(a).forward(parameters: [1, 2, 0.1, 0.01], input: x)
        assertClose(y, [4.2, 12.4, 8], tolerance: 1e-14)
    }

    func testPoolsByHand() throws {
        let x = [1.0, 3, 2, 5, 4]
        let maxA = try analyze("maxp", input: .sequence(length: 5, channels: 1), batch: 1, loss: .mse,
                               [.maxPool1d(kernel: 2, stride: 1), .flatten])
        // windows [1,3] [3,2] [2,5] [5,4]
        assertClose(try ReferenceInterpreter(maxA).forward(parameters: [], input: x), [3, 3, 5, 5], tolerance: 0)
        let avgA = try analyze("avgp", input: .sequence(length: 5, channels: 1), batch: 1, loss: .mse,
                               [.avgPool1d(kernel: 3, stride: 2), .flatten])
        // windows [1,3,2] -> 2 and [2,5,4] -> 11/3
        assertClose(try ReferenceInterpreter(avgA).forward(parameters: [], input: x), [2, 11.0 / 3], tolerance: 1e-15)
        let gapA = try analyze("gap", input: .sequence(length: 2, channels: 2), batch: 1, loss: .mse, [.globalAvgPool1d])
        // positions (1, 2) and (3, 4): channel means (1+3)/2 = 2, (2+4)/2 = 3
        assertClose(try ReferenceInterpreter(gapA).forward(parameters: [], input: [1, 2, 3, 4]), [2, 3], tolerance: 0)
        let flatA = try analyze("flat", input: .sequence(length: 2, channels: 3), batch: 2, loss: .mse, [.flatten])
        let seq = (0..<12).map(Double.init)
        assertClose(try ReferenceInterpreter(flatA).forward(parameters: [], input: seq), seq, tolerance: 0)
    }

    func testMaxPoolGradientGoesToTheFirstMaximumAndAddsUpOverOverlaps() throws {
        // Tie: window [2, 2, 1] -> max 2 at positions 0 and 1; mse to 0: dL/dy = 2*2 = 4 -> [4, 0, 0]
        let tie = try analyze("tie", input: .sequence(length: 3, channels: 1), batch: 1, loss: .mse,
                              [.maxPool1d(kernel: 3, stride: 3), .flatten])
        let g1 = try ReferenceInterpreter(tie).gradients(parameters: [], input: [2, 2, 1], targets: .values([0]))
        assertClose(g1.input ?? [], [4, 0, 0], tolerance: 0)
        // Overlap: [1, 3, 2], kernel 2 stride 1 -> [3, 3], both maxima at position 1;
        // dL/dy = 2*3/2 = 3 each -> dx = [0, 6, 0]
        let overlap = try analyze("overlap", input: .sequence(length: 3, channels: 1), batch: 1, loss: .mse,
                                  [.maxPool1d(kernel: 2, stride: 1), .flatten])
        let g2 = try ReferenceInterpreter(overlap).gradients(parameters: [], input: [1, 3, 2], targets: .values([0, 0]))
        assertClose(g2.input ?? [], [0, 6, 0], tolerance: 0)
    }

    func testLayerNormByHand() throws {
        let a = try analyze("ln", input: .features(4), batch: 1, loss: .mse, [.layerNorm()])
        // x = [1, 2, 3, 4]: mean 2.5, biased var (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25,
        // xhat = (x - 2.5) / sqrt(1.25 + 1e-5) = [-1.3416354199689269, -0.447211806656309, 0.447..., 1.341...]
        // weight [1, 0.5, -1, 2], bias [0, 1, 0, -1]:
        // y = [-1.3416354199689269, 0.5*(-0.4472) + 1, -0.4472, 2*1.3416 - 1]
        let p = [1, 0.5, -1, 2, 0, 1, 0, -1]
        assertClose(try ReferenceInterpreter(a).forward(parameters: p, input: [1, 2, 3, 4]),
                    [-1.3416354199689269, 0.7763940966718456, -0.447211806656309, 1.683270839937854], tolerance: 1e-15)
    }

    func testResidualAddsItsInput() throws {
        let a = try analyze("res", input: .features(2), batch: 1, loss: .mse, [.residual([.dense(units: 2)])])
        // W = [[1, 2], [3, 4]], b = [0.5, -0.5], x = [1, 1]: W x + b = [3.5, 6.5]; y = x + that = [4.5, 7.5]
        let r = ReferenceInterpreter(a)
        let p = [1.0, 2, 3, 4, 0.5, -0.5]
        assertClose(try r.forward(parameters: p, input: [1, 1]), [4.5, 7.5], tolerance: 0)
        // mse to [0, 0]: dL/dy = y = [4.5, 7.5]; dx = dy + W^T dy = [4.5 + 4.5 + 22.5, 7.5 + 9 + 30] = [31.5, 46.5]
        let g = try r.gradients(parameters: p, input: [1, 1], targets: .values([0, 0]))
        assertClose(g.input ?? [], [31.5, 46.5], tolerance: 1e-13)
    }

    func testRowsAreIndependentAndBatchCanBeSmaller() throws {
        let a = try analyze("rows", input: .sequence(length: 6, channels: 2), batch: 3, loss: .softmaxCrossEntropy,
                            [.conv1d(filters: 3, kernel: 3), .layerNorm(), .globalAvgPool1d, .dense(units: 2)])
        let r = ReferenceInterpreter(a)
        var rng = Xoshiro256StarStar(seed: 5)
        let p = r.initialParameters(seed: 9)
        let x = uniformValues(a.inputElements, -1, 1, &rng)
        let all = try r.forward(parameters: p, input: x)
        XCTAssertEqual(all.count, 3 * 2)
        for row in 0..<3 {
            let one = try r.forward(parameters: p, input: Array(x[(row * 12)..<(row * 12 + 12)]), batch: 1)
            assertClose(one, Array(all[(row * 2)..<(row * 2 + 2)]), tolerance: 0, "row \(row)")
        }
    }

    func testTraceFollowsTheAnalysisOrder() throws {
        let a = try analyze("trace", input: .features(3), batch: 2, loss: .mse,
                            [.dense(units: 3), .residual([.activation(.relu), .residual([.dense(units: 3)])]), .dense(units: 1)])
        let r = ReferenceInterpreter(a)
        var rng = Xoshiro256StarStar(seed: 1)
        let p = r.initialParameters(seed: 2)
        let x = uniformValues(6, -1, 1, &rng)
        let trace = try r.trace(parameters: p, input: x)
        XCTAssertEqual(trace.map(\.layer.path), a.layers.map(\.path))
        XCTAssertEqual(trace.first?.input, x)
        XCTAssertEqual(trace.last?.output, try r.forward(parameters: p, input: x))
        // the outer residual's output is its input plus its body's last output
        let outer = trace[1], bodyLast = trace[3]  // [1] residual, [2] relu, [3] inner residual, [4] its dense
        assertClose(outer.output, zip(outer.input, bodyLast.output).map { $0 + $1 }, tolerance: 0)
    }
}
