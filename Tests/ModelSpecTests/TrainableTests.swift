import Foundation
import ModelSpec
import XCTest

/// The `"trainable"` field: JSON, DSL, validation, the per-parameter result and the CLI patterns.
final class TrainableTests: XCTestCase {
    let layersJSON = #"""
    [{"type": "dense", "units": 8, "trainable": false},
     {"type": "relu"},
     {"type": "residual", "trainable": "bias", "layers": [
        {"type": "layernorm"}, {"type": "dense", "units": 8, "trainable": true}]},
     {"type": "dense", "units": 2, "trainable": "weight"}]
    """#

    func testJSONSettingsResolvePerParameterWithTheNearestWinning() throws {
        let a = try decodeModel(modelText(layers: layersJSON)).analyze()
        let trains = Dictionary(uniqueKeysWithValues: a.parameters.map { ($0.name, $0.trainable) })
        XCTAssertEqual(trains, [
            "layers.0.weight": false, "layers.0.bias": false,
            "layers.2.layers.0.weight": false, "layers.2.layers.0.bias": true,   // the block's "bias"
            "layers.2.layers.1.weight": true, "layers.2.layers.1.bias": true,    // its own true wins
            "layers.3.weight": true, "layers.3.bias": false,
        ])
        // Gradient offsets: the trainable ones only, packed in parameter order.
        let g = a.parameters.filter(\.trainable).map { $0.gradientOffset ?? -1 }
        XCTAssertEqual(g, [0, 8, 8 + 64, 8 + 64 + 8])
        XCTAssertEqual(a.gradientCount, 8 + 64 + 8 + 16)
        XCTAssertTrue(a.parameters.filter { !$0.trainable }.allSatisfy { $0.gradientOffset == nil })
        XCTAssertEqual(a.optimizerStateElements, 0)  // plain sgd
    }

    func testJSONRoundTripKeepsTheSettings() throws {
        let m = try decodeModel(modelText(layers: layersJSON))
        XCTAssertEqual(m.trainable, ["layers[0]": .frozen, "layers[2]": .biasOnly, "layers[2].layers[1]": .all,
                                     "layers[3]": .weightOnly])
        XCTAssertTrue(m.jsonString.contains(#""trainable": false"#), m.jsonString)
        XCTAssertEqual(try decodeModel(m.jsonString), m)
        // A model without settings writes no "trainable" field (existing files are unchanged).
        var plain = m
        plain.trainable = [:]
        XCTAssertFalse(plain.jsonString.contains("trainable"))
    }

    func testDSLFrozenAndBiasOnlyGiveTheSameModelAsJSON() throws {
        let dsl = Model("m", input: .features(4), batch: 8, loss: .mse, optimizer: .sgd(lr: 0.1)) {
            Dense(8).frozen()
            ReLU()
            Residual { LayerNorm(); Dense(8).trainable(.all) }.biasOnly()
            Dense(2).trainable(.weightOnly)
        }
        XCTAssertEqual(dsl, try decodeModel(modelText(layers: layersJSON)))
    }

    func testBadTrainableValueNamesTheLayerAndTheValidValues() {
        let issues = problems(modelText(layers: #"[{"type": "dense", "units": 2, "trainable": "yes"}]"#))
        assertSingleProblem(issues, at: "layers[0] (dense)", #""trainable" must be true, false, "bias" or "weight""#, "yes")
        let number = problems(modelText(layers: #"[{"type": "dense", "units": 2, "trainable": 0}]"#))
        assertSingleProblem(number, at: "layers[0] (dense)", "got a number")
    }

    /// Any layer may carry the field (docs/CONVENTIONS.md); on one without parameters only
    /// true and false mean something.
    func testTrainableOnALayerWithoutParameters() throws {
        let ok = try decodeModel(modelText(layers: #"[{"type": "relu", "trainable": false}, {"type": "dense", "units": 1}]"#))
        XCTAssertEqual(try ok.analyze().gradientCount, 5)
        let issues = problems(modelText(layers: #"[{"type": "relu", "trainable": "bias"}, {"type": "dense", "units": 1}]"#))
        assertSingleProblem(issues, at: "layers[0] (relu)", #""trainable": "bias" but the layer has no bias"#)
    }

    func testBiasOnlyWithoutABiasIsRefused() {
        let issues = problems(modelText(layers: #"[{"type": "dense", "units": 2, "bias": false, "trainable": "bias"},"#
                                        + #" {"type": "dense", "units": 1}]"#))
        assertSingleProblem(issues, at: "layers[0] (dense)", #""trainable": "bias" but the layer has no bias"#)
    }

    func testNothingTrainableIsRefused() {
        let issues = problems(modelText(layers: #"[{"type": "dense", "units": 2, "trainable": false}]"#))
        assertSingleProblem(issues, at: "trainable", "nothing is trainable: every parameter is frozen")
    }

    func testSettingForAMissingLayerIsRefusedThroughTheAPI() {
        var m = Model(name: "m", input: .features(4), batch: 2, layers: [.dense(units: 1)], loss: .mse)
        m.trainable = ["layers[5]": .frozen]
        assertSingleProblem(m.validate(), at: "trainable", #"no layer at "layers[5]""#)
    }

    func testFreezeAndTrainOnlyPatterns() throws {
        let m = Model("m", input: .features(4), batch: 2, loss: .mse, optimizer: .sgd(lr: 0.1)) {
            Dense(8); ReLU(); Dense(8); ReLU(); Dense(1)
        }
        let frozen = try m.overridingTrainable(freeze: ["layers.0.*", "layers.2.weight"], trainOnly: [])
        XCTAssertEqual(frozen.trainable, ["layers[0]": .frozen, "layers[2]": .biasOnly])
        let head = try m.overridingTrainable(freeze: [], trainOnly: ["layers.4.*"])
        XCTAssertEqual(head.trainable, ["layers[0]": .frozen, "layers[2]": .frozen])
        XCTAssertEqual(try head.analyze().gradientCount, 9)
        XCTAssertThrowsError(try m.overridingTrainable(freeze: ["layers.9.*"], trainOnly: [])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix(#"--freeze: "layers.9.*" matches no parameter; the parameters are: layers.0.weight, layers.0.bias"#), text)
        }
        XCTAssertThrowsError(try m.overridingTrainable(freeze: ["*"], trainOnly: [])) { error in
            XCTAssertTrue("\(error)".contains("nothing is trainable"), "\(error)")
        }
    }

    func testPatternMatching() {
        XCTAssertTrue(Trainable.matches("layers.2.layers.1.weight", pattern: "layers.2.layers.*"))
        XCTAssertTrue(Trainable.matches("layers.0.bias", pattern: "*.bias"))
        XCTAssertTrue(Trainable.matches("layers.0.bias", pattern: "layers.0.bias"))
        XCTAssertFalse(Trainable.matches("layers.10.bias", pattern: "layers.1.*"))
        XCTAssertFalse(Trainable.matches("layers.0.bias", pattern: "layers.0"))
        XCTAssertTrue(Trainable.matches("layers.0.bias", pattern: "*"))
    }

    func testFLOPsOfATrainingStepWithFrozenLayers() throws {
        let m = Model("m", input: .features(4), batch: 2, loss: .mse, optimizer: .sgd(lr: 0.1)) {
            Dense(8).frozen(); ReLU(); Dense(8).biasOnly(); ReLU(); Dense(1)
        }
        let a = try m.analyze()
        let f = a.layers.map(\.forwardFLOPs)  // 2*2*4*8 = 128, 2*2*8*8 = 256, 2*2*8*1 = 32
        XCTAssertEqual([f[0], f[2], f[4]], [128, 256, 32])
        // forward 416; layer 2: input gradient none (nothing trains before it), weight frozen;
        // layer 4: weight gradient 32 and input gradient 32 (layer 2's bias trains before it).
        XCTAssertEqual(a.trainableStepFLOPs, 416 + 32 + 32)
        XCTAssertEqual(a.trainingStepFLOPs, 3 * 416)
    }
}
