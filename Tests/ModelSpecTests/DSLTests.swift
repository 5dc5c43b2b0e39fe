import Foundation
import ModelSpec
import XCTest

final class DSLTests: XCTestCase {
    func testBlockGivesTheLayersInOrder() {
        let m = Model("digits", input: .features(64), batch: 32, loss: .softmaxCrossEntropy,
                      optimizer: .sgd(lr: 0.05)) {
            Dense(128); ReLU()
            Residual { LayerNorm(); Dense(128); GELU() }
            Dense(10)
        }
        XCTAssertEqual(m, Model(name: "digits", input: .features(64), batch: 32,
                                layers: [.dense(units: 128, bias: true), .activation(.relu),
                                         .residual([.layerNorm(eps: 1e-5, affine: true),
                                                    .dense(units: 128, bias: true), .activation(.gelu)]),
                                         .dense(units: 10, bias: true)],
                                loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.05, momentum: 0, nesterov: false, weightDecay: 0),
                                standardize: false))
    }

    func testSiLUIsTheSiluLayerAndReadsBackFromJSON() throws {
        let m = Model("s", input: .features(3), batch: 2, loss: .mse) { Dense(4); SiLU(); Dense(1) }
        XCTAssertEqual(m.layers[1], .activation(.silu))
        let json = m.jsonString
        XCTAssertTrue(json.contains(#"{"type": "silu"}"#), json)
        XCTAssertEqual(try Model.decode(Data(json.utf8)), m)
    }

    func testDefaultsMatchConventions() {
        let m = Model("m", input: .sequence(length: 16, channels: 2), batch: 4, loss: .mse) {
            Conv1D(3, kernel: 5)
            LayerNorm()
            LeakyReLU()
            MaxPool1D(2)
            AvgPool1D(3, stride: 1)
            Flatten()
            Dense(1, bias: false)
        }
        XCTAssertEqual(m.optimizer, .adam(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0))
        XCTAssertFalse(m.standardize)
        XCTAssertEqual(m.layers, [
            .conv1d(filters: 3, kernel: 5, stride: 1, padding: .explicit(0), dilation: 1, bias: true),
            .layerNorm(eps: 1e-5, affine: true),
            .activation(.leakyReLU(negativeSlope: 0.01)),
            .maxPool1d(kernel: 2, stride: 2),
            .avgPool1d(kernel: 3, stride: 1),
            .flatten,
            .dense(units: 1, bias: false),
        ])
        XCTAssertEqual(Optimizer.adamw(), .adamw(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01))
    }

    func testControlFlowAndLayerValuesInBlocks() {
        let deep = true
        let widths = [8, 4]
        let m = Model("m", input: .features(2), batch: 1, loss: .mse) {
            for w in widths { Dense(w); Tanh() }
            if deep { Residual { Dense(4); Sigmoid() } } else { Identity() }
            if !deep { GELUTanh() }
            Layer.activation(.relu)
            [Layer.activation(.identity), .dense(units: 1)]
        }
        XCTAssertEqual(m.layers, [.dense(units: 8), .activation(.tanh), .dense(units: 4), .activation(.tanh),
                                  .residual([.dense(units: 4), .activation(.sigmoid)]), .activation(.relu), .activation(.identity), .dense(units: 1)])
        let shallow = !deep
        let n = Model("n", input: .sequence(length: 4, channels: 2), batch: 1, loss: .mse) {
            if shallow { Identity() } else { GELUTanh(); GlobalAvgPool1D() }
            Dense(1)
        }
        XCTAssertEqual(n.layers, [.activation(.geluTanh), .globalAvgPool1d, .dense(units: 1)])
        XCTAssertEqual(n.validate(), [])
    }

    func testTypeNamesAndActivations() {
        let all: [Layer] = [.dense(units: 1), .conv1d(filters: 1, kernel: 1), .layerNorm(), .activation(.relu), .activation(.leakyReLU()),
                            .activation(.sigmoid), .activation(.tanh), .activation(.gelu), .activation(.geluTanh), .activation(.identity), .activation(.silu), .maxPool1d(kernel: 2, stride: 2),
                            .avgPool1d(kernel: 2, stride: 2), .globalAvgPool1d, .flatten, .residual([])]
        XCTAssertEqual(all.map(\.typeName), Layer.typeNames)
        XCTAssertEqual(all.filter(\.isActivation).map(\.typeName),
                       ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "identity", "silu"])
        // Every type with options lists its fields; the others take none.
        XCTAssertEqual(Set(Layer.fieldsByType.keys),
                       ["dense", "conv1d", "layernorm", "leaky_relu", "maxpool1d", "avgpool1d", "residual"])
    }

    func testPaddingAmounts() {
        XCTAssertTrue(Padding.explicit(3).amounts(kernel: 5, dilation: 1) == (3, 3))
        XCTAssertTrue(Padding.valid.amounts(kernel: 5, dilation: 4) == (0, 0))
        XCTAssertTrue(Padding.same.amounts(kernel: 3, dilation: 1) == (1, 1))
        XCTAssertTrue(Padding.same.amounts(kernel: 4, dilation: 1) == (1, 2), "the smaller half on the left")
        XCTAssertTrue(Padding.same.amounts(kernel: 3, dilation: 2) == (2, 2))
        XCTAssertTrue(Padding.same.amounts(kernel: 2, dilation: 3) == (1, 2))
        XCTAssertTrue(Padding.same.amounts(kernel: 1, dilation: 7) == (0, 0))
    }
}
