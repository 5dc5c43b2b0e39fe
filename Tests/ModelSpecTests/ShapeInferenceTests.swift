import Foundation
import ModelSpec
import XCTest

final class ShapeInferenceTests: XCTestCase {
    func testParameterListNamesShapesOffsetsAndInitialisers() throws {
        let a = try JSONFormatTests.digits.analyze()
        XCTAssertEqual(a.parameters.map(\.name), [
            "layers.0.weight", "layers.0.bias",
            "layers.2.layers.0.weight", "layers.2.layers.0.bias",
            "layers.2.layers.1.weight", "layers.2.layers.1.bias",
            "layers.3.weight", "layers.3.bias",
        ])
        XCTAssertEqual(a.parameters.map(\.shape), [[128, 64], [128], [128], [128], [128, 128], [128], [10, 128], [10]])
        XCTAssertEqual(a.parameters.map(\.count), [8192, 128, 128, 128, 16384, 128, 1280, 10])
        XCTAssertEqual(a.parameters.map(\.offset), [0, 8192, 8320, 8448, 8576, 24960, 25088, 26368])
        XCTAssertEqual(a.parameters.map(\.role), [.weight, .bias, .weight, .bias, .weight, .bias, .weight, .bias])
        XCTAssertEqual(a.parameters.map(\.layerPath), ["layers[0]", "layers[0]", "layers[2].layers[0]", "layers[2].layers[0]",
                                                       "layers[2].layers[1]", "layers[2].layers[1]", "layers[3]", "layers[3]"])
        XCTAssertEqual(a.parameters.map(\.initializer), [
            .uniform(bound: 0.125), .uniform(bound: 0.125), .constant(1), .constant(0),
            .uniform(bound: 1 / 128.0.squareRoot()), .uniform(bound: 1 / 128.0.squareRoot()),
            .uniform(bound: 1 / 128.0.squareRoot()), .uniform(bound: 1 / 128.0.squareRoot()),
        ])
        // Contiguous, no gaps.
        for (p, q) in zip(a.parameters, a.parameters.dropFirst()) { XCTAssertEqual(p.offset + p.count, q.offset) }
        XCTAssertEqual(a.parameterCount, 26378)
        XCTAssertEqual(a.parameter(named: "layers.2.layers.1.weight")?.offset, 8576)
        XCTAssertNil(a.parameter(named: "layers.1.weight"))

        XCTAssertEqual(a.layers.map(\.path), ["layers[0]", "layers[1]", "layers[2]", "layers[2].layers[0]",
                                              "layers[2].layers[1]", "layers[2].layers[2]", "layers[3]"])
        XCTAssertEqual(a.layers.map(\.parameterPrefix), ["layers.0", "layers.1", "layers.2", "layers.2.layers.0",
                                                         "layers.2.layers.1", "layers.2.layers.2", "layers.3"])
        XCTAssertEqual(a.layers.map(\.depth), [0, 0, 0, 1, 1, 1, 0])
        XCTAssertEqual(a.layers.map(\.output), [.vector(128), .vector(128), .vector(128), .vector(128), .vector(128),
                                                .vector(128), .vector(10)])
        XCTAssertEqual(a.layers[0].input, .vector(64))
        XCTAssertEqual(a.layers.map(\.parameterCount), [8320, 0, 0, 256, 16512, 0, 1290])
        XCTAssertEqual(a.layers[4].label, "layers[2].layers[1] (dense)")
        XCTAssertEqual(a.layers.map(\.forwardFLOPs), [524_288, 0, 1_048_576, 0, 1_048_576, 0, 81_920])
        XCTAssertEqual(a.forwardFLOPs, 1_654_784)
        XCTAssertEqual(a.outputShape, .vector(10))
        XCTAssertEqual(a.outputCount, 10)
    }

    func testMemoryCounts() throws {
        let a = try JSONFormatTests.digits.analyze()
        XCTAssertEqual(a.inputElements, 32 * 64)
        XCTAssertEqual(a.targetElements, 32, "labels for softmax cross-entropy")
        XCTAssertEqual(a.naiveActivationElements, 32 * (128 * 6 + 10))
        XCTAssertEqual(a.optimizerStateElements, 0, "plain sgd keeps no state")
        var m = JSONFormatTests.digits
        m.optimizer = .adam()
        m.loss = .mse
        let b = try m.analyze()
        XCTAssertEqual(b.optimizerStateElements, 2 * 26378)
        XCTAssertEqual(b.targetElements, 32 * 10)
    }

    /// conv1d output length by docs/CONVENTIONS.md:
    /// `floor((L + pad_left + pad_right - dilation*(kernel-1) - 1) / stride) + 1`.
    func testConvOutputLengths() throws {
        let cases: [(length: Int, kernel: Int, stride: Int, padding: Padding, dilation: Int, expected: Int)] = [
            (10, 3, 1, .explicit(0), 1, 8),
            (10, 3, 2, .explicit(0), 1, 4),
            (10, 3, 2, .explicit(1), 1, 5),
            (10, 3, 1, .explicit(0), 2, 6),
            (10, 3, 1, .valid, 2, 6),
            (10, 4, 1, .same, 1, 10),
            (10, 3, 1, .same, 3, 10),
            (7, 3, 3, .valid, 1, 2),
            (5, 5, 1, .explicit(0), 1, 1),
            (1, 3, 1, .explicit(1), 1, 1),
            (16, 5, 3, .explicit(2), 2, 4),
            (64, 5, 1, .explicit(2), 1, 64),
            (9, 1, 4, .explicit(0), 1, 3),
        ]
        for c in cases {
            let m = Model("m", input: .sequence(length: c.length, channels: 3), batch: 2, loss: .mse) {
                Conv1D(6, kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
                Flatten(); Dense(1)
            }
            let a = try m.analyze()
            XCTAssertEqual(a.layers[0].output, .sequence(length: c.expected, channels: 6), "\(c)")
            XCTAssertEqual(a.layers[1].output, .vector(6 * c.expected))
            XCTAssertEqual(a.layers[0].forwardFLOPs, 2 * 2 * c.expected * 6 * 3 * c.kernel, "\(c)")
        }
    }

    func testConvParameters() throws {
        let m = Model("m", input: .sequence(length: 12, channels: 3), batch: 4, loss: .mse) {
            Conv1D(5, kernel: 4, stride: 2, padding: .explicit(1))
            Conv1D(7, kernel: 2, bias: false)
            GlobalAvgPool1D(); Dense(1)
        }
        let a = try m.analyze()
        XCTAssertEqual(a.parameters.map(\.name), ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.3.weight", "layers.3.bias"])
        XCTAssertEqual(a.parameters.map(\.shape), [[5, 3, 4], [5], [7, 5, 2], [1, 7], [1]])
        XCTAssertEqual(a.parameters[0].initializer, .uniform(bound: 1 / 12.0.squareRoot()))
        XCTAssertEqual(a.parameters[2].initializer, .uniform(bound: 1 / 10.0.squareRoot()))
        XCTAssertEqual(a.layers.map(\.output), [.sequence(length: 6, channels: 5), .sequence(length: 5, channels: 7),
                                                .vector(7), .vector(1)])
        XCTAssertEqual(a.layers.map(\.forwardFLOPs), [2 * 4 * 6 * 5 * 3 * 4, 2 * 4 * 5 * 7 * 5 * 2, 0, 2 * 4 * 7 * 1])
        XCTAssertEqual(a.parameterCount, 60 + 5 + 70 + 7 + 1)
    }

    func testPoolsFlattenAndGlobalAveragePool() throws {
        let m = Model("m", input: .sequence(length: 7, channels: 3), batch: 2, loss: .mse) {
            MaxPool1D(2)             // (7-2)/2+1 = 3
            AvgPool1D(1)             // 3
            MaxPool1D(3, stride: 5)  // 1
            Flatten()                // [3]
            Dense(1)
        }
        XCTAssertEqual(try m.analyze().layers.map(\.output),
                       [.sequence(length: 3, channels: 3), .sequence(length: 3, channels: 3),
                        .sequence(length: 1, channels: 3), .vector(3), .vector(1)])
        let n = Model("n", input: .sequence(length: 7, channels: 3), batch: 2, loss: .mse) {
            AvgPool1D(3, stride: 1)  // 5
            MaxPool1D(7 - 2)         // 1
            GlobalAvgPool1D()        // [3]
            LayerNorm(affine: false)
            Dense(1)
        }
        let a = try n.analyze()
        XCTAssertEqual(a.layers.map(\.output), [.sequence(length: 5, channels: 3), .sequence(length: 1, channels: 3),
                                                .vector(3), .vector(3), .vector(1)])
        XCTAssertEqual(a.layers.map(\.forwardFLOPs), [0, 0, 0, 0, 12])
        XCTAssertEqual(a.parameters.map(\.name), ["layers.4.weight", "layers.4.bias"], "non-affine layernorm has none")
        let f = Model("f", input: .sequence(length: 4, channels: 5), batch: 3, loss: .mse) { Flatten(); Dense(2) }
        let fa = try f.analyze()
        XCTAssertEqual(fa.layers[0].output, .vector(20))
        XCTAssertEqual(fa.parameters[0].shape, [2, 20])
        XCTAssertEqual(fa.outputShape.description, "[2]")
        XCTAssertEqual(Shape.sequence(length: 4, channels: 5).description, "[4, 5]")
        XCTAssertEqual(Shape.sequence(length: 4, channels: 5).elementCount, 20)
        XCTAssertEqual(Shape.sequence(length: 4, channels: 5).lastAxis, 5)
    }

    func testLayerNormOnASequenceNormalisesChannels() throws {
        let m = Model("m", input: .sequence(length: 10, channels: 6), batch: 2, loss: .mse) {
            LayerNorm(); Flatten(); Dense(1)
        }
        let a = try m.analyze()
        XCTAssertEqual(a.parameters.map(\.shape), [[6], [6], [1, 60], [1]])
        XCTAssertEqual(a.layers[0].output, .sequence(length: 10, channels: 6))
    }

    // MARK: The reference workloads of docs/BENCHMARKS.md

    static let w1 = Model("w1_digits_mlp", input: .features(64), batch: 32, loss: .softmaxCrossEntropy,
                          optimizer: .sgd(lr: 0.01)) {
        Dense(128); ReLU(); Dense(64); ReLU(); Dense(10)
    }
    static let w2 = Model("w2_mnist_mlp", input: .features(784), batch: 128, loss: .softmaxCrossEntropy,
                          optimizer: .sgd(lr: 0.01)) {
        Dense(512); ReLU(); Dense(512); ReLU(); Dense(10)
    }
    static let w3 = Model("w3_conv1d_ln", input: .sequence(length: 64, channels: 8), batch: 32,
                          loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.01)) {
        Conv1D(32, kernel: 5, padding: .explicit(2)); ReLU(); LayerNorm()
        Conv1D(32, kernel: 5, padding: .explicit(2)); ReLU(); LayerNorm()
        Flatten(); Dense(10)
    }
    static let w4 = Model("w4_resmlp", input: .features(256), batch: 64, loss: .mse, optimizer: .sgd(lr: 0.01)) {
        for _ in 0..<2 {
            Residual { LayerNorm(); Dense(1024); GELUTanh(); Dense(256) }
        }
        LayerNorm(); Dense(1)
    }

    func testBenchmarkFLOPs() throws {
        // W1: 2*32*(64*128 + 128*64 + 64*10)
        let w1 = try Self.w1.analyze()
        XCTAssertEqual(w1.forwardFLOPs, 1_089_536)
        XCTAssertEqual(w1.trainingStepFLOPs, 3_268_608)  // "3.27 M"
        // W2: 2*128*(784*512 + 512*512 + 512*10)
        let w2 = try Self.w2.analyze()
        XCTAssertEqual(w2.forwardFLOPs, 171_180_032)
        XCTAssertEqual(w2.trainingStepFLOPs, 513_540_096)  // "513.5 M"
        // W3: 2*32*64*32*8*5 + 2*32*64*32*32*5 + 2*32*2048*10
        let w3 = try Self.w3.analyze()
        XCTAssertEqual(w3.layers.map(\.forwardFLOPs), [5_242_880, 0, 0, 20_971_520, 0, 0, 0, 1_310_720])
        XCTAssertEqual(w3.forwardFLOPs, 27_525_120)
        XCTAssertEqual(w3.trainingStepFLOPs, 82_575_360)  // "82.6 M"
        // W4: 2 * 2*64*(256*1024 + 1024*256) + 2*64*256*1
        let w4 = try Self.w4.analyze()
        XCTAssertEqual(w4.layers.filter { $0.depth == 0 }.map(\.forwardFLOPs), [67_108_864, 67_108_864, 0, 32_768])
        XCTAssertEqual(w4.forwardFLOPs, 134_250_496)
        XCTAssertEqual(w4.trainingStepFLOPs, 402_751_488)  // "402.8 M"
    }

    func testBenchmarkParameterCountsAndShapes() throws {
        XCTAssertEqual(try Self.w1.analyze().parameterCount, 8320 + 8256 + 650)
        XCTAssertEqual(try Self.w2.analyze().parameterCount, 401_920 + 262_656 + 5130)
        let w3 = try Self.w3.analyze()
        XCTAssertEqual(w3.parameterCount, 1312 + 64 + 5152 + 64 + 20490)
        XCTAssertEqual(w3.layers[6].output, .vector(2048))
        XCTAssertEqual(w3.parameters.map(\.name), ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
                                                   "layers.3.weight", "layers.3.bias", "layers.5.weight", "layers.5.bias",
                                                   "layers.7.weight", "layers.7.bias"])
        XCTAssertEqual(w3.parameters.map(\.shape), [[32, 8, 5], [32], [32], [32], [32, 32, 5], [32], [32], [32], [10, 2048], [10]])
        let w4 = try Self.w4.analyze()
        XCTAssertEqual(w4.parameterCount, 2 * (512 + 263_168 + 262_400) + 512 + 257)
        XCTAssertEqual(w4.parameters.map(\.name).prefix(6), ["layers.0.layers.0.weight", "layers.0.layers.0.bias",
                                                             "layers.0.layers.1.weight", "layers.0.layers.1.bias",
                                                             "layers.0.layers.3.weight", "layers.0.layers.3.bias"])
        XCTAssertEqual(w4.parameter(named: "layers.1.layers.3.weight")?.shape, [256, 1024])
        XCTAssertEqual(w4.parameter(named: "layers.3.weight")?.shape, [1, 256])
    }

    func testBenchmarkFilesMatchTheWorkloads() throws {
        for (file, model) in [("w1_digits_mlp", Self.w1), ("w2_mnist_mlp", Self.w2), ("w3_conv1d_ln", Self.w3),
                              ("w4_resmlp", Self.w4)] {
            let url = repositoryRoot.appendingPathComponent("examples/bench/\(file).json")
            XCTAssertEqual(try Model.load(from: url), model, file)
        }
    }
}
