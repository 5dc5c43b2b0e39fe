import Foundation
import ModelSpec
import XCTest

final class JSONFormatTests: XCTestCase {
    static let digits = Model("digits", input: .features(64), batch: 32, loss: .softmaxCrossEntropy,
                              optimizer: .sgd(lr: 0.05)) {
        Dense(128); ReLU()
        Residual { LayerNorm(); Dense(128); GELU() }
        Dense(10)
    }

    func testDigitsModelWritesEveryOptionAndReadsBackEqual() throws {
        let text = Self.digits.jsonString
        XCTAssertEqual(text, """
            {
              "name": "digits",
              "input": {"features": 64},
              "batch": 32,
              "layers": [
                {"type": "dense", "units": 128, "bias": true},
                {"type": "relu"},
                {
                  "type": "residual",
                  "layers": [
                    {"type": "layernorm", "eps": 1e-05, "affine": true},
                    {"type": "dense", "units": 128, "bias": true},
                    {"type": "gelu"}
                  ]
                },
                {"type": "dense", "units": 10, "bias": true}
              ],
              "loss": {"type": "softmax_cross_entropy"},
              "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0, "nesterov": false, "weight_decay": 0}
            }

            """)
        let back = try decodeModel(text)
        XCTAssertEqual(back, Self.digits)
        XCTAssertEqual(back.layers, [.dense(units: 128, bias: true), .activation(.relu),
                                     .residual([.layerNorm(eps: 1e-5, affine: true), .dense(units: 128, bias: true), .activation(.gelu)]),
                                     .dense(units: 10, bias: true)])
        XCTAssertEqual(back.jsonString, text, "writing is stable")
    }

    /// A sequence model using every layer type with non-default options.
    static let everyLayer = Model("every_layer", input: .sequence(length: 32, channels: 4), batch: 5,
                                  loss: .softmaxCrossEntropy, standardize: true) {
        Conv1D(8, kernel: 3, stride: 1, padding: .same, dilation: 2, bias: false)
        LayerNorm(eps: 1e-6, affine: false)
        LeakyReLU(negativeSlope: 0.2)
        MaxPool1D(2, stride: 1)
        AvgPool1D(3, stride: 2)
        Conv1D(8, kernel: 3, stride: 2, padding: .explicit(1))
        Conv1D(8, kernel: 2, padding: .valid)
        Residual {
            ReLU(); Sigmoid(); Tanh(); GELU(); GELUTanh(); Identity()
            Conv1D(8, kernel: 3, padding: .same)
        }
        Flatten()
        Dense(16, bias: false)
        Residual { LayerNorm(); Dense(16) }
        Dense(3)
    }

    static let pooled = Model("pooled", input: .sequence(length: 6, channels: 3), batch: 2, loss: .mse) {
        Conv1D(4, kernel: 1); GlobalAvgPool1D(); Dense(1)
    }

    static let optimizers: [Optimizer] = [
        .sgd(lr: 0.1),
        .sgd(lr: 0.25, momentum: 0.9, nesterov: true, weightDecay: 1e-4),
        .adam(),
        .adam(lr: 2e-3, beta1: 0.8, beta2: 0.99, eps: 1e-7, weightDecay: 0.001),
        .adamw(),
        .adamw(lr: 3e-4, beta1: 0.85, beta2: 0.95, eps: 1e-6, weightDecay: 0.05),
    ]

    func testEveryLayerOptionAndOptimizerRoundTrips() throws {
        XCTAssertEqual(Self.everyLayer.validate(), [])
        XCTAssertEqual(Self.pooled.validate(), [])
        for base in [Self.everyLayer, Self.pooled] {
            for optimizer in Self.optimizers {
                var model = base
                model.optimizer = optimizer
                let back = try decodeModel(model.jsonString)
                XCTAssertEqual(back, model, "\(optimizer)")
                // The Codable path (JSONEncoder / JSONDecoder) gives the same model.
                let viaCodable = try JSONDecoder().decode(Model.self, from: JSONEncoder().encode(model))
                XCTAssertEqual(viaCodable, model, "\(optimizer)")
            }
        }
        let text = Self.everyLayer.jsonString
        XCTAssertTrue(text.contains(#""standardize": true"#))
        // An object of scalars longer than 100 characters takes one line per field.
        XCTAssertTrue(text.contains("""
                {
                  "type": "conv1d",
                  "filters": 8,
                  "kernel": 3,
                  "stride": 1,
                  "padding": "same",
                  "dilation": 2,
                  "bias": false
                },
            """), text)
        XCTAssertTrue(text.contains(#""padding": "valid""#))
        XCTAssertTrue(text.contains(#""padding": 1"#))
        XCTAssertTrue(text.contains(#"{"type": "layernorm", "eps": 1e-06, "affine": false}"#))
        XCTAssertTrue(text.contains(#"{"type": "leaky_relu", "negative_slope": 0.2}"#))
        XCTAssertTrue(text.contains(#"{"type": "maxpool1d", "kernel": 2, "stride": 1}"#))
        XCTAssertTrue(text.contains(#"{"type": "avgpool1d", "kernel": 3, "stride": 2}"#))
        XCTAssertTrue(text.contains(#"{"type": "global_avg_pool1d"}"#) == false)
        XCTAssertTrue(Self.pooled.jsonString.contains(#"{"type": "global_avg_pool1d"}"#))
        XCTAssertTrue(text.contains(#"{"type": "gelu_tanh"}"#))
        XCTAssertTrue(text.contains(#"{"type": "flatten"}"#))
        XCTAssertTrue(text.contains(#""input": {"length": 32, "channels": 4}"#))
        var m = Self.everyLayer
        m.optimizer = Self.optimizers[3]
        XCTAssertTrue(m.jsonString.contains(
            #""optimizer": {"type": "adam", "lr": 0.002, "beta1": 0.8, "beta2": 0.99, "eps": 1e-07, "weight_decay": 0.001}"#),
            m.jsonString)
    }

    func testOmittedLayerOptionsTakeConventionDefaults() throws {
        let model = try decodeModel(modelText(input: #"{"length": 64, "channels": 8}"#, layers: """
            [{"type": "conv1d", "filters": 4, "kernel": 3},
             {"type": "layernorm"},
             {"type": "leaky_relu"},
             {"type": "maxpool1d", "kernel": 2},
             {"type": "avgpool1d", "kernel": 3},
             {"type": "flatten"},
             {"type": "dense", "units": 2}]
            """))
        XCTAssertEqual(model.layers, [
            .conv1d(filters: 4, kernel: 3, stride: 1, padding: .explicit(0), dilation: 1, bias: true),
            .layerNorm(eps: 1e-5, affine: true),
            .activation(.leakyReLU(negativeSlope: 0.01)),
            .maxPool1d(kernel: 2, stride: 2),
            .avgPool1d(kernel: 3, stride: 3),
            .flatten,
            .dense(units: 2, bias: true),
        ])
        XCTAssertFalse(model.standardize)
        XCTAssertEqual(model.input, .sequence(length: 64, channels: 8))
        XCTAssertEqual(model.input.shape.dimensions, [64, 8])
    }

    func testOmittedOptimizerOptionsTakeConventionDefaults() throws {
        func optimizer(_ json: String?) throws -> Optimizer {
            try decodeModel(modelText(layers: #"[{"type": "dense", "units": 1}]"#, optimizer: json)).optimizer
        }
        XCTAssertEqual(try optimizer(nil), .adam(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0))
        XCTAssertEqual(try optimizer(#"{"type": "adam"}"#), .adam(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0))
        XCTAssertEqual(try optimizer(#"{"type": "adamw"}"#), .adamw(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01))
        XCTAssertEqual(try optimizer(#"{"type": "adamw", "lr": 0.01}"#), .adamw(lr: 0.01, weightDecay: 0.01))
        XCTAssertEqual(try optimizer(#"{"type": "sgd", "lr": 0.05}"#), .sgd(lr: 0.05, momentum: 0, nesterov: false, weightDecay: 0))
        XCTAssertEqual(try optimizer(#"{"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": true, "weight_decay": 0.0001}"#),
                       .sgd(lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4))
    }

    func testOptimizerHelpers() {
        XCTAssertEqual(Optimizer.sgd(lr: 0.1).stateSlotsPerParameter, 0)
        XCTAssertEqual(Optimizer.sgd(lr: 0.1, momentum: 0.9).stateSlotsPerParameter, 1)
        XCTAssertEqual(Optimizer.adam().stateSlotsPerParameter, 2)
        XCTAssertEqual(Optimizer.adamw().stateSlotsPerParameter, 2)
        XCTAssertEqual(Optimizer.adamw(lr: 0.5).learningRate, 0.5)
        XCTAssertEqual(Optimizer.sgd(lr: 0.1, momentum: 0.9, nesterov: true).with(learningRate: 0.2),
                       .sgd(lr: 0.2, momentum: 0.9, nesterov: true))
        XCTAssertEqual(Optimizer.adam(beta1: 0.5).with(learningRate: 0.2), .adam(lr: 0.2, beta1: 0.5))
        XCTAssertEqual(Optimizer.adamw(weightDecay: 0.1).with(learningRate: 0.2).typeName, "adamw")
        XCTAssertTrue(Loss.softmaxCrossEntropy.usesLabels)
        XCTAssertFalse(Loss.mse.usesLabels)
        XCTAssertEqual(Loss.allCases.map(\.typeName), ["mse", "bce_with_logits", "softmax_cross_entropy", "huber"])
    }

    func testStandardizeFieldAndIntegersWrittenAsFloats() throws {
        let m = try decodeModel(modelText(batch: "8.0", layers: #"[{"type": "dense", "units": 2.0}]"#)
            .replacingOccurrences(of: "\"batch\"", with: "\"standardize\": true, \"batch\""))
        XCTAssertTrue(m.standardize)
        XCTAssertEqual(m.batch, 8)
        XCTAssertEqual(m.layers, [.dense(units: 2)])
        XCTAssertTrue(m.jsonString.contains("\"standardize\": true,"))
        var plain = m
        plain.standardize = false
        XCTAssertFalse(plain.jsonString.contains("standardize"), "false is the default and is not written")
    }

    func testExtremeNumbersReadBackExactly() throws {
        var m = Self.digits
        m.optimizer = .adam(lr: 0.1 + 0.2, beta1: 0.9, beta2: 0.999999, eps: .leastNonzeroMagnitude, weightDecay: 1.0 / 3)
        m.layers[2] = .residual([.layerNorm(eps: 1.2345678901234567e-7), .dense(units: 128), .activation(.leakyReLU(negativeSlope: -0.0625))])
        XCTAssertEqual(try decodeModel(m.jsonString), m)
    }

    func testWriteAndLoadAFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelspec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("digits.json")
        try Self.digits.write(to: url)
        XCTAssertEqual(try Model.load(from: url), Self.digits)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), Self.digits.jsonString)

        let missing = dir.appendingPathComponent("nope.json")
        XCTAssertThrowsError(try Model.load(from: missing)) { error in
            let e = error as! ModelSpecError
            XCTAssertEqual(e.file, missing.path)
            XCTAssertEqual(e.issues.first?.place, "file")
            XCTAssertTrue(e.description.hasPrefix(missing.path + ": file: cannot be read"), e.description)
        }
    }

    func testParseKeepsKeyOrderAndReportsDuplicateFields() throws {
        let v = try JSONValue.parse(Data(#"{"zeta": 1, "alpha": [true, null, "x\n\u00e9\ud83d\ude00"], "mid": {"b": -2.5e3, "a": 0}}"#.utf8))
        XCTAssertEqual(v, .object([
            ("zeta", .number(1)),
            ("alpha", .array([.bool(true), .null, .string("x\né😀")])),
            ("mid", .object([("b", .number(-2500)), ("a", .number(0))])),
        ]))
        let issues = problems(modelText(layers: #"[{"type": "dense", "units": 2, "units": 3}]"#))
        assertSingleProblem(issues, at: "layers[0] (dense)", #"field "units" appears twice"#)
    }

    func testHuberLossKeepsItsDeltaAndDefaultsToOne() throws {
        let m = Model(name: "h", input: .features(2), batch: 2, layers: [.dense(units: 1)], loss: .huber(delta: 0.25))
        XCTAssertTrue(m.jsonString.contains(#""loss": {"type": "huber", "delta": 0.25}"#), m.jsonString)
        XCTAssertEqual(try Model.decode(Data(m.jsonString.utf8)), m)
        let text = m.jsonString.replacingOccurrences(of: #", "delta": 0.25"#, with: "")
        XCTAssertEqual(try Model.decode(Data(text.utf8)).loss, .huber(delta: 1.0))
    }

    func testUnknownFieldsAreReportedInFileOrder() {
        let issues = problems(modelText(layers: #"[{"type": "dense", "units": 2, "zz": 1, "aa": 2, "mm": 3}]"#))
        XCTAssertEqual(issues.map(\.message), [
            #"unknown field "zz"; valid fields: type, units, bias, trainable"#,
            #"unknown field "aa"; valid fields: type, units, bias, trainable"#,
            #"unknown field "mm"; valid fields: type, units, bias, trainable"#,
        ])
    }

    func testExampleModelsAreValid() throws {
        let names = ["digits_mlp", "digits_conv", "breast_cancer", "diabetes", "diabetes_huber", "iris",
                     "bench/w1_digits_mlp", "bench/w2_mnist_mlp", "bench/w3_conv1d_ln", "bench/w4_resmlp"]
        for name in names {
            let url = repositoryRoot.appendingPathComponent("examples/\(name).json")
            let model = try Model.load(from: url)
            XCTAssertEqual(model.validate(), [], name)
            XCTAssertEqual(model.name, (name as NSString).lastPathComponent, "the model is named after its file")
            XCTAssertNoThrow(try model.analyze(file: url.path))
        }
        let digits = try Model.load(from: repositoryRoot.appendingPathComponent("examples/digits_mlp.json"))
        XCTAssertEqual(digits.layers, [.dense(units: 128), .activation(.relu), .dense(units: 64), .activation(.relu), .dense(units: 10)])
        XCTAssertEqual(digits.loss, .softmaxCrossEntropy)
        XCTAssertEqual(digits.batch, 32)
        XCTAssertTrue(digits.standardize)
        let conv = try Model.load(from: repositoryRoot.appendingPathComponent("examples/digits_conv.json"))
        XCTAssertEqual(conv.input, .sequence(length: 8, channels: 8))
        XCTAssertEqual(try conv.analyze().outputShape, .vector(10))
    }
}
