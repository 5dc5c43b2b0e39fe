import Foundation
import ModelSpec
import XCTest

/// One test per error: each checks the place is named and the message says what is wrong.
final class ValidationTests: XCTestCase {
    static let validTypes = "valid types: dense, conv1d, layernorm, relu, leaky_relu, sigmoid, tanh, gelu, gelu_tanh, "
        + "identity, silu, maxpool1d, avgpool1d, global_avg_pool1d, flatten, residual"
    static let seq = #"{"length": 8, "channels": 2}"#

    // MARK: Reading the file

    func testUnknownLayerType() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}, {"type": "conv2d"}]"#)),
                            at: "layers[1]", #"unknown layer type "conv2d""#, Self.validTypes)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "residual", "layers": [{"type": "Dense"}]}]"#)),
                            at: "layers[0].layers[0]", #"unknown layer type "Dense""#, Self.validTypes)
    }

    func testUnknownFieldListsValidFields() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1, "unit": 4}]"#)),
                            at: "layers[0] (dense)", #"unknown field "unit"; valid fields: type, units, bias"#)
        let nested = problems(modelText(input: Self.seq, layers: """
            [{"type": "conv1d", "filters": 2, "kernel": 1},
             {"type": "relu"}, {"type": "relu"},
             {"type": "residual", "layers": [{"type": "relu"},
                                             {"type": "conv1d", "filters": 2, "kernel": 1, "strides": 2}]},
             {"type": "flatten"}, {"type": "dense", "units": 1}]
            """))
        assertSingleProblem(nested, at: "layers[3].layers[1] (conv1d)",
                            #"unknown field "strides"; valid fields: type, filters, kernel, stride, padding, dilation, bias"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "relu", "slope": 1}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (relu)", #"unknown field "slope"; it takes no fields besides "type" and "trainable""#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#)
                                .replacingOccurrences(of: "\"batch\"", with: "\"epochs\": 3, \"batch\"")),
                            at: "model", #"unknown field "epochs"; valid fields: name, input, batch, layers, loss, optimizer, standardize"#)
        assertSingleProblem(problems(modelText(input: #"{"features": 4, "dtype": "f32"}"#, layers: #"[{"type": "dense", "units": 1}]"#)),
                            at: "input", #"unknown field "dtype"; valid fields: features, length, channels"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#,
                                               optimizer: #"{"type": "sgd", "lr": 0.1, "beta1": 0.9}"#)),
                            at: "optimizer (sgd)", #"unknown field "beta1"; valid fields: type, lr, momentum, nesterov, weight_decay"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#,
                                               loss: #"{"type": "mse", "reduction": "sum"}"#)),
                            at: "loss", #"unknown field "reduction"; it takes no fields besides "type""#)
    }

    func testMissingFields() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense"}]"#)),
                            at: "layers[0] (dense)", #"missing required field "units" (an integer)"#)
        assertSingleProblem(problems(modelText(input: Self.seq, layers: #"[{"type": "conv1d", "filters": 2}, {"type": "flatten"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (conv1d)", #"missing required field "kernel""#)
        assertSingleProblem(problems(modelText(input: Self.seq, layers: #"[{"type": "maxpool1d"}, {"type": "flatten"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (maxpool1d)", #"missing required field "kernel""#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "residual"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (residual)", #"missing required field "layers""#)
        assertSingleProblem(problems(modelText(layers: #"[{"units": 3}]"#)),
                            at: "layers[0]", #"missing required field "type""#, Self.validTypes)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, optimizer: #"{"type": "sgd"}"#)),
                            at: "optimizer (sgd)", #"missing required field "lr" (a number)"#)
        assertSingleProblem(problems(modelText(input: #"{"length": 8}"#, layers: #"[{"type": "dense", "units": 1}]"#)),
                            at: "input", #"missing required field "channels" (an integer)"#)
        assertSingleProblem(problems(modelText(input: #"{}"#, layers: #"[{"type": "dense", "units": 1}]"#)),
                            at: "input", #"expected {"features": F} or {"length": L, "channels": C}"#)
        assertSingleProblem(problems(modelText(input: #"{"features": 3, "length": 2, "channels": 1}"#, layers: #"[{"type": "dense", "units": 1}]"#)),
                            at: "input", "not both")
        let empty = problems("{}")
        assertProblem(empty, at: "name", #"missing required field "name""#)
        assertProblem(empty, at: "input", #"missing required field "input""#)
        assertProblem(empty, at: "batch", #"missing required field "batch""#)
        assertProblem(empty, at: "layers", #"missing required field "layers""#)
        assertProblem(empty, at: "loss", #"missing required field "loss""#)
        XCTAssertEqual(empty.count, 5, "\(empty)")
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, loss: "{}")),
                            at: "loss", #"missing required field "type""#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, optimizer: #"{"lr": 0.1}"#)),
                            at: "optimizer", #"expected an object with a "type" (one of sgd, adam, adamw)"#)
    }

    func testMistypedFields() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": "10"}]"#)),
                            at: "layers[0] (dense)", #""units" must be an integer, got a string"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1.5}]"#)),
                            at: "layers[0] (dense)", #""units" must be an integer, got 1.5"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1, "bias": "yes"}]"#)),
                            at: "layers[0] (dense)", #""bias" must be true or false, got a string"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": true}]"#)),
                            at: "layers[0] (dense)", #""units" must be an integer, got a boolean"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 2}, {"type": "layernorm", "eps": "1e-5"}]"#)),
                            at: "layers[1] (layernorm)", #""eps" must be a number, got a string"#)
        assertSingleProblem(problems(modelText(input: Self.seq, layers: #"[{"type": "conv1d", "filters": 2, "kernel": 3, "padding": "full"}, {"type": "flatten"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (conv1d)", #""padding" must be an integer, "same" or "valid", got "full""#)
        assertSingleProblem(problems(modelText(input: Self.seq, layers: #"[{"type": "conv1d", "filters": 2, "kernel": 3, "padding": [1, 2]}, {"type": "flatten"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (conv1d)", #""padding" must be an integer, "same" or "valid", got a list"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#)
                                .replacingOccurrences(of: #""name": "m""#, with: #""name": 7"#)),
                            at: "name", #""name" must be a string, got a number"#)
        assertSingleProblem(problems(modelText(batch: #""32""#, layers: #"[{"type": "dense", "units": 1}]"#)),
                            at: "batch", #""batch" must be an integer, got a string"#)
        assertSingleProblem(problems(modelText(layers: #"{"type": "dense", "units": 1}"#)),
                            at: "layers", #""layers" must be a list of layer objects, got an object"#)
        assertSingleProblem(problems(modelText(layers: #"["relu", {"type": "dense", "units": 1}]"#)),
                            at: "layers[0]", #"expected a layer object such as {"type": "relu"}, got a string"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": 5}]"#)),
                            at: "layers[0]", #""type" must be a string, got a number"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#,
                                               optimizer: #"{"type": "sgd", "lr": 0.1, "nesterov": 1}"#)),
                            at: "optimizer (sgd)", #""nesterov" must be true or false, got a number"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#,
                                               optimizer: #"{"type": "adam", "lr": "fast"}"#)),
                            at: "optimizer (adam)", #""lr" must be a number, got a string"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#).replacingOccurrences(
                                of: "\"batch\"", with: "\"standardize\": \"yes\", \"batch\"")),
                            at: "standardize", #""standardize" must be true or false, got a string"#)
        assertSingleProblem(problems("[1, 2]"), at: "model", "expected an object {...}, got a list")
    }

    func testZeroAndNegativeSizes() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 0}]"#)),
                            at: "layers[0] (dense)", "units must be at least 1 (got 0)")
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": -3}]"#)),
                            at: "layers[0] (dense)", "units must be at least 1 (got -3)")
        assertSingleProblem(problems(modelText(batch: "0", layers: #"[{"type": "dense", "units": 1}]"#)),
                            at: "batch", "batch must be at least 1 (got 0)")
        assertSingleProblem(problems(modelText(input: #"{"features": 0}"#, layers: #"[{"type": "dense", "units": 1}]"#)),
                            at: "input", "features must be at least 1 (got 0)")
        let seq = problems(modelText(input: #"{"length": 0, "channels": -1}"#, layers: #"[{"type": "flatten"}, {"type": "dense", "units": 1}]"#))
        assertProblem(seq, at: "input", "length must be at least 1 (got 0)")
        assertProblem(seq, at: "input", "channels must be at least 1 (got -1)")
        XCTAssertEqual(seq.count, 2)
        let conv = problems(modelText(input: Self.seq, layers: """
            [{"type": "conv1d", "filters": 0, "kernel": -1, "stride": 0, "dilation": 0, "padding": -2},
             {"type": "flatten"}, {"type": "dense", "units": 1}]
            """))
        for fragment in ["filters must be at least 1 (got 0)", "kernel must be at least 1 (got -1)",
                         "stride must be at least 1 (got 0)", "dilation must be at least 1 (got 0)",
                         #"padding must be >= 0, "same" or "valid" (got -2)"#] {
            assertProblem(conv, at: "layers[0] (conv1d)", fragment)
        }
        XCTAssertEqual(conv.count, 5)
        assertSingleProblem(problems(modelText(input: Self.seq, layers: #"[{"type": "avgpool1d", "kernel": 2, "stride": 0}, {"type": "flatten"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (avgpool1d)", "stride must be at least 1 (got 0)")
        assertSingleProblem(problems(modelText(input: Self.seq, layers: #"[{"type": "maxpool1d", "kernel": 0}, {"type": "flatten"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (maxpool1d)", "kernel must be at least 1 (got 0)")
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 2}, {"type": "layernorm", "eps": 0}]"#)),
                            at: "layers[1] (layernorm)", "eps must be a finite number above 0 (got 0.0)")
        let dsl = Model("m", input: .features(2), batch: 1, loss: .mse) {
            Dense(2); LeakyReLU(negativeSlope: .infinity); LayerNorm(eps: -.nan); Dense(1)
        }
        assertProblem(dsl.validate(), at: "layers[1] (leaky_relu)", "negative_slope must be a finite number (got inf)")
        assertProblem(dsl.validate(), at: "layers[2] (layernorm)", "eps must be a finite number above 0")
        assertSingleProblem(problems(modelText(layers: "[]")), at: "layers", "a model needs at least one layer")
    }

    func testSizesTooLarge() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1e12}]"#)),
                            at: "layers[0] (dense)", #""units" is 1000000000000, too large (at most 2147483647)"#)
        assertSingleProblem(problems(modelText(batch: "3e9", layers: #"[{"type": "dense", "units": 1}]"#)),
                            at: "batch", #""batch" is 3000000000, too large (at most 2147483647)"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#).replacingOccurrences(
                                of: "\"batch\": 8", with: "\"batch\": 1e999")),
                            at: "file", "out of range", "line 4, column 12")
        // Each size fits, but the dense layer's output [2e9, 2e9] does not.
        let big = problems(modelText(input: #"{"features": 1}"#, batch: "2e9", layers: #"[{"type": "dense", "units": 2e9}]"#))
        assertProblem(big, at: "layers[0] (dense)", "a tensor of shape [2000000000, 2000000000] would have more than 2147483647 elements",
                      "make the layer or the batch smaller")
        // A parameter too large on its own.
        assertProblem(problems(modelText(input: #"{"features": 2000000000}"#, batch: "1", layers: #"[{"type": "dense", "units": 2}]"#)),
                      at: "layers[0] (dense)", "too large")
    }

    func testHugeSizesInTheDSLNeverOverflow() {
        // Every product here overflows Int64 if computed carelessly.
        let models = [
            Model("a", input: .features(Int.max), batch: Int.max, loss: .mse) { Dense(Int.max) },
            Model("b", input: .features(1), batch: 1, loss: .mse) { Dense(Int.max); Dense(Int.max) },
            Model("c", input: .sequence(length: Int.max, channels: Int.max), batch: 2, loss: .mse) { Flatten(); Dense(1) },
            Model("d", input: .sequence(length: 4, channels: 2), batch: 1, loss: .mse) {
                Conv1D(Int.max, kernel: Int.max, stride: Int.max, padding: .explicit(Int.max), dilation: Int.max)
                Flatten(); Dense(1)
            },
            Model("e", input: .sequence(length: 4, channels: 2), batch: 1, loss: .mse) {
                Conv1D(2, kernel: 3, padding: .same, dilation: Int.max / 2)
                Flatten(); Dense(1)
            },
            Model("f", input: .sequence(length: 4, channels: 1), batch: 1, loss: .mse) {
                Conv1D(2, kernel: 3, padding: .explicit(Int.max)); Flatten(); Dense(1)
            },
            Model("g", input: .sequence(length: 4, channels: 2), batch: 1, loss: .mse) {
                MaxPool1D(Int.max); GlobalAvgPool1D(); LayerNorm(); Dense(1)
            },
        ]
        for m in models {
            let issues = m.validate()
            XCTAssertFalse(issues.isEmpty, m.name)
            XCTAssertThrowsError(try m.analyze(), m.name)
        }
        assertProblem(models[0].validate(), at: "batch", "batch \(Int.max) is too large (at most 2147483647)")
        assertProblem(models[1].validate(), at: "layers[0] (dense)", "would have more than 2147483647 elements")
        assertProblem(models[2].validate(), at: "input", "would have more than 2147483647 elements")
        assertProblem(models[3].validate(), at: "layers[0] (conv1d)", "dilation x (kernel - 1) is too large")
        assertProblem(models[4].validate(), at: "layers[0] (conv1d)", "padding is too large")
        assertProblem(models[5].validate(), at: "layers[0] (conv1d)", "padding is too large")
        assertProblem(models[6].validate(), at: "layers[0] (maxpool1d)", "kernel \(Int.max) is longer than the input length 4")
    }

    func testAllTensorsTogetherPassTheLimit() {
        // Each tensor holds 6e8 elements; the output, weight and bias of layer 0 fit together
        // (1.8e9), but the output of layer 1 takes the total past 2^31 - 1.
        let m = Model("m", input: .features(1), batch: 1, loss: .mse) {
            Dense(600_000_000); ReLU(); Dense(1)
        }
        assertSingleProblem(m.validate(), at: "layers[1] (relu)",
                            "the model's tensors together would pass 2147483647 elements", "make the layers or the batch smaller")
        XCTAssertEqual(ModelLimits.maxElements, 2_147_483_647)
    }

    // MARK: Shapes

    func testConvOutputShorterThanOnePosition() {
        assertSingleProblem(problems(modelText(input: #"{"length": 4, "channels": 2}"#, layers: """
            [{"type": "conv1d", "filters": 2, "kernel": 3, "dilation": 2}, {"type": "flatten"}, {"type": "dense", "units": 1}]
            """)), at: "layers[0] (conv1d)",
            "the output would be shorter than 1 position: input length 4 with padding 0+0 is shorter than the kernel's span 5",
            "use a smaller kernel or dilation, or more padding")
        // Padding makes it fit: 4 + 1 + 1 >= 5.
        XCTAssertEqual(problems(modelText(input: #"{"length": 4, "channels": 2}"#, layers: """
            [{"type": "conv1d", "filters": 2, "kernel": 3, "dilation": 2, "padding": 1}, {"type": "flatten"}, {"type": "dense", "units": 1}]
            """)), [])
    }

    func testPoolKernelLongerThanInput() {
        assertSingleProblem(problems(modelText(input: #"{"length": 4, "channels": 2}"#, layers: """
            [{"type": "relu"}, {"type": "maxpool1d", "kernel": 5}, {"type": "flatten"}, {"type": "dense", "units": 1}]
            """)), at: "layers[1] (maxpool1d)", "kernel 5 is longer than the input length 4", "use a kernel of at most 4")
        assertSingleProblem(problems(modelText(input: #"{"length": 4, "channels": 2}"#, layers: """
            [{"type": "avgpool1d", "kernel": 2}, {"type": "avgpool1d", "kernel": 3}, {"type": "flatten"}, {"type": "dense", "units": 1}]
            """)), at: "layers[1] (avgpool1d)", "kernel 3 is longer than the input length 2")
    }

    func testPoolOnAVector() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "maxpool1d", "kernel": 2}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (maxpool1d)", "maxpool1d needs a sequence input [length, channels] but gets [4]")
        assertSingleProblem(problems(modelText(layers: #"[{"type": "global_avg_pool1d"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (global_avg_pool1d)", "global_avg_pool1d needs a sequence input [length, channels] but gets [4]")
    }

    func testSamePaddingWithStride() {
        assertSingleProblem(problems(modelText(input: Self.seq, layers: """
            [{"type": "conv1d", "filters": 2, "kernel": 3, "stride": 2, "padding": "same"}, {"type": "flatten"}, {"type": "dense", "units": 1}]
            """)), at: "layers[0] (conv1d)", #"padding "same" works only with stride 1 (got stride 2)"#,
            #"use an integer padding or "valid""#)
    }

    func testDenseOnASequenceSaysAddFlatten() {
        assertSingleProblem(problems(modelText(input: #"{"length": 64, "channels": 8}"#, layers: """
            [{"type": "conv1d", "filters": 4, "kernel": 1}, {"type": "dense", "units": 1}]
            """)), at: "layers[1] (dense)", "dense needs a vector input but gets [64, 4] (positions x channels)",
            #"add {"type": "flatten"}"#)
    }

    func testLayerNormOnOneElement() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}, {"type": "layernorm"}]"#)),
                            at: "layers[1] (layernorm)", "layernorm over a last axis of 1 element always gives 0",
                            "it needs 3 or more")
        assertSingleProblem(problems(modelText(input: #"{"length": 5, "channels": 1}"#, layers: """
            [{"type": "layernorm", "affine": false}, {"type": "flatten"}, {"type": "dense", "units": 1}]
            """)), at: "layers[0] (layernorm)", "last axis of 1 element")
    }

    func testConvOnAVectorInput() {
        assertSingleProblem(problems(modelText(layers: """
            [{"type": "conv1d", "filters": 4, "kernel": 1}, {"type": "dense", "units": 1}]
            """)), at: "layers[0] (conv1d)", "conv1d needs a sequence input [length, channels] but gets [4]",
            #"use a sequence input {"length": L, "channels": C}"#)
    }

    func testResidualBodyChangingShape() {
        assertSingleProblem(problems(modelText(layers: """
            [{"type": "dense", "units": 6},
             {"type": "residual", "layers": [{"type": "dense", "units": 3}, {"type": "relu"}]},
             {"type": "dense", "units": 1}]
            """)), at: "layers[1] (residual)",
            "the body of a residual block must give back its input's shape [6] but gives [3]",
            "end the block with a layer of 6 units/filters")
        assertSingleProblem(problems(modelText(input: Self.seq, layers: """
            [{"type": "residual", "layers": [{"type": "conv1d", "filters": 2, "kernel": 3}]},
             {"type": "flatten"}, {"type": "dense", "units": 1}]
            """)), at: "layers[0] (residual)", "must give back its input's shape [8, 2] but gives [6, 2]")
    }

    func testResidualWithEmptyBody() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "residual", "layers": []}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[0] (residual)", #"a residual block needs at least one layer in "layers""#)
    }

    func testSoftmaxCrossEntropyWithOneOutput() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#,
                                               loss: #"{"type": "softmax_cross_entropy"}"#)),
                            at: "loss", "softmax_cross_entropy needs 2 or more outputs (one per class) but the model gives 1",
                            "use bce_with_logits")
    }

    func testSequenceOutputIntoALoss() {
        assertSingleProblem(problems(modelText(input: Self.seq, layers: #"[{"type": "conv1d", "filters": 3, "kernel": 1}]"#)),
                            at: "loss", "mse needs a vector output but the last layer gives [8, 3]",
                            #"add {"type": "flatten"} or {"type": "global_avg_pool1d"}"#)
    }

    func testInvalidModelNames() {
        for bad in ["9abc", "a-b", "", String(repeating: "a", count: 65), "café", "a b", "ünïcode", "x.y"] {
            let escaped = bad.replacingOccurrences(of: "\"", with: "\\\"")
            assertSingleProblem(problems(modelText(name: "\"\(escaped)\"", layers: #"[{"type": "dense", "units": 1}]"#)),
                                at: "name", "\"\(Messages.shown(bad))\" is not a valid model name", "C identifier",
                                "[A-Za-z_][A-Za-z0-9_]*", "1 to 64 characters")
            XCTAssertFalse(Model.isValidName(bad), bad)
        }
        for good in ["a", "_", "digits_mlp", "W1", "_9", String(repeating: "b", count: 64)] {
            XCTAssertTrue(Model.isValidName(good), good)
        }
    }

    func testOptimizerValues() {
        func optimizerProblems(_ o: Optimizer) -> [ModelIssue] {
            Model("m", input: .features(2), batch: 1, loss: .mse, optimizer: o) { Dense(1) }.validate()
        }
        assertSingleProblem(optimizerProblems(.sgd(lr: 0)), at: "optimizer", "lr must be a finite number above 0 (got 0.0)")
        assertSingleProblem(optimizerProblems(.adam(lr: -0.1)), at: "optimizer", "lr must be a finite number above 0 (got -0.1)")
        assertSingleProblem(optimizerProblems(.adamw(lr: .nan)), at: "optimizer", "lr must be a finite number above 0 (got nan)")
        assertSingleProblem(optimizerProblems(.sgd(lr: .infinity)), at: "optimizer", "lr must be a finite number above 0 (got inf)")
        assertSingleProblem(optimizerProblems(.adam(beta1: 1)), at: "optimizer", "beta1 must be in [0, 1) (got 1.0)")
        assertSingleProblem(optimizerProblems(.adamw(beta2: -0.5)), at: "optimizer", "beta2 must be in [0, 1) (got -0.5)")
        assertSingleProblem(optimizerProblems(.adam(eps: -1)), at: "optimizer", "eps must be a finite number >= 0 (got -1.0)")
        assertSingleProblem(optimizerProblems(.adamw(weightDecay: -0.01)), at: "optimizer", "weight_decay must be a finite number >= 0")
        assertSingleProblem(optimizerProblems(.sgd(lr: 0.1, momentum: -0.9)), at: "optimizer", "momentum must be a finite number >= 0")
        assertSingleProblem(optimizerProblems(.sgd(lr: 0.1, nesterov: true)), at: "optimizer",
                            "nesterov needs momentum above 0 (got momentum 0.0)", #"set "momentum": 0.9 or "nesterov": false"#)
        XCTAssertEqual(optimizerProblems(.sgd(lr: 0.1, momentum: 0.9, nesterov: true)), [])
        // From a file.
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, optimizer: #"{"type": "adam", "lr": 0}"#)),
                            at: "optimizer", "lr must be a finite number above 0 (got 0.0)")
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, optimizer: #"{"type": "rmsprop", "lr": 0.1}"#)),
                            at: "optimizer", #"unknown optimizer "rmsprop"; valid optimizers: sgd, adam, adamw"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, loss: #"{"type": "hinge"}"#)),
                            at: "loss", #"unknown loss "hinge"; valid losses: mse, bce_with_logits, softmax_cross_entropy, huber"#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, loss: #""mse""#)),
                            at: "loss", "expected an object {...}, got a string")
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, loss: #"{"type": "mse", "delta": 2}"#)),
                            at: "loss", #"unknown field "delta"; it takes no fields besides "type""#)
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, loss: #"{"type": "huber", "delta": 0}"#)),
                            at: "loss (huber)", "delta must be a finite number above 0 (got 0.0)")
    }

    // MARK: Text and reporting

    func testMalformedJSONNamesLineAndColumn() {
        let text = "{\n  \"name\": \"m\",\n  \"batch\" 2\n}\n"
        XCTAssertThrowsError(try decodeModel(text, source: "bad.json")) { error in
            let e = error as! ModelSpecError
            XCTAssertEqual(e.description,
                           #"bad.json: file: it is not well-formed JSON: expected ':' after the field name "batch", found '2' (line 3, column 11)"#)
        }
        func message(_ text: String) -> String {
            do { _ = try decodeModel(text); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message(""), "file: it is not well-formed JSON: the file is empty; expected a JSON object {...} (line 1, column 1)")
        XCTAssertEqual(message("{\"a\": [1, 2,]}"),
                       "file: it is not well-formed JSON: expected a value (an object, list, string, number, true, false or null), found ']' (line 1, column 13)")
        XCTAssertEqual(message("{\"a\": 1} x"), "file: it is not well-formed JSON: unexpected 'x' after the end of the JSON value (line 1, column 10)")
        XCTAssertEqual(message("{\"é\": tru}"),
                       "file: it is not well-formed JSON: expected a value (an object, list, string, number, true, false or null), found 't' (line 1, column 7)")
        XCTAssertEqual(message("{\n  \"a\": \"x\n"),
                       "file: it is not well-formed JSON: a control character (such as a line break) inside a string; write it as an escape like \\n (line 2, column 10)")
        XCTAssertEqual(message("{\"a\": 01}"), "file: it is not well-formed JSON: a number may not start with 0 followed by digits (line 1, column 7)")
        XCTAssertEqual(message("{\"a\": 1,\n\n   }"), "file: it is not well-formed JSON: expected a field name in double quotes, found '}' (line 3, column 4)")
        XCTAssertEqual(message("{\"a\": \"\\x\"}"), "file: it is not well-formed JSON: invalid escape '\\x' in a string (line 1, column 8)")
        XCTAssertEqual(message("{\"a\": [1 2]}"), "file: it is not well-formed JSON: expected ',' or ']' after a list item, found '2' (line 1, column 10)")
        XCTAssertEqual(message("{\"a\": 1"), "file: it is not well-formed JSON: unexpected end of the file; expected ',' or '}' (line 1, column 8)")
        XCTAssertEqual(message("{\"a\": \"abc"), "file: it is not well-formed JSON: unterminated string (no closing '\"') (line 1, column 7)")
        XCTAssertTrue(message(String(repeating: "[", count: 10_000)).contains("nested more than 256 deep"))
        XCTAssertEqual(message("{\"a\": é}"),
                       "file: it is not well-formed JSON: expected a value (an object, list, string, number, true, false or null), found byte 0xC3 (line 1, column 7)")
        XCTAssertEqual(message("\u{FEFF}{\"a\": -}"), "file: it is not well-formed JSON: expected a digit after '-', found '}' (line 1, column 8)")
        let latin1 = Data([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE9, 0x22, 0x7D])
        XCTAssertThrowsError(try Model.decode(latin1)) { error in
            XCTAssertEqual("\(error)", "file: it is not well-formed JSON: the text is not valid UTF-8 (line 1, column 7)")
        }
    }

    func testSeveralErrorsAreAllReported() {
        let text = modelText(name: "bad-name", layers: """
            [{"type": "dense", "units": 8, "activation": "relu"},
             {"type": "dense"},
             {"type": "residual", "layers": [{"type": "dense", "units": "4"}]},
             {"type": "conv3d"}]
            """, loss: #"{"type": "cross_entropy"}"#)
        XCTAssertThrowsError(try decodeModel(text, source: "models/m.json")) { error in
            let e = error as! ModelSpecError
            XCTAssertEqual(e.file, "models/m.json")
            XCTAssertEqual(e.issues.map(\.place), ["layers[0] (dense)", "layers[1] (dense)", "layers[2].layers[0] (dense)",
                                                   "layers[3]", "loss"])
            XCTAssertTrue(e.description.hasPrefix("models/m.json: 5 problems in the model:\n  - layers[0] (dense): unknown field \"activation\""),
                          e.description)
            XCTAssertEqual(e.description.split(separator: "\n").count, 6)
        }
        // Validation problems, once the file reads, are all reported too, in model order.
        let model = Model("9lives", input: .features(4), batch: 0, loss: .softmaxCrossEntropy, optimizer: .adam(lr: 0)) {
            Dense(0); Conv1D(2, kernel: 1); Residual {}
        }
        let issues = model.validate()
        XCTAssertEqual(issues.map(\.place), ["name", "batch", "optimizer", "layers[0] (dense)", "layers[2] (residual)"])
        XCTAssertThrowsError(try model.analyze(file: "x.json")) { error in
            let e = error as! ModelSpecError
            XCTAssertEqual(e.issues, issues)
            XCTAssertTrue(e.description.hasPrefix("x.json: 5 problems in the model:\n  - name: \"9lives\" is not a valid model name"))
        }
        // Shape problems in different layers are reported together when the shape is known.
        let shapes = Model("m", input: .sequence(length: 4, channels: 2), batch: 2, loss: .mse) {
            Residual { Conv1D(2, kernel: 2) }
            Flatten(); Dense(0)
        }
        XCTAssertEqual(shapes.validate().map(\.place), ["layers[0] (residual)", "layers[2] (dense)"])
    }

    func testErrorDescription() {
        let one = ModelSpecError(place: "layers[3].layers[1] (conv1d)", "kernel must be at least 1 (got 0)")
        XCTAssertEqual(one.description, "layers[3].layers[1] (conv1d): kernel must be at least 1 (got 0)")
        let withFile = ModelSpecError(file: "examples/m.json", place: "loss", "unknown loss")
        XCTAssertEqual(withFile.description, "examples/m.json: loss: unknown loss")
        let two = ModelSpecError(file: "m.json", issues: [ModelIssue(place: "name", message: "bad"),
                                                          ModelIssue(place: "batch", message: "worse")])
        XCTAssertEqual(two.description, "m.json: 2 problems in the model:\n  - name: bad\n  - batch: worse")
        XCTAssertEqual(ModelSpecError(issues: two.issues).description, "2 problems in the model:\n  - name: bad\n  - batch: worse")
        XCTAssertEqual(ModelIssue(place: "input", message: "x").description, "input: x")
    }

    func testValidModelHasNoProblems() throws {
        XCTAssertEqual(JSONFormatTests.digits.validate(), [])
        XCTAssertNoThrow(try JSONFormatTests.digits.analyze())
    }
}
