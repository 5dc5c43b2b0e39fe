import Foundation
import ModelSpec
import XCTest

/// Hyper-parameters checked against the dtype, layernorm over two features, and echoed values
/// cut short in messages.
final class ReliabilityTests: XCTestCase {
    func model(_ text: String) throws -> Model { try decodeModel(text) }

    // Item 5: numbers that become C literals must be representable in the dtype.
    func testLayerNormEpsTooSmallForFloat32() throws {
        let m = try model(modelText(layers: #"[{"type": "dense", "units": 4}, {"type": "relu"}, {"type": "layernorm", "eps": 1e-300}]"#))
        XCTAssertEqual(m.validate(), [])
        XCTAssertNoThrow(try m.validate(for: .f64))
        assertSingleProblem(m.issues(for: .f32), at: "layers[2] (layernorm)",
                            "eps 1e-300 is 0 in float32; use at least 1.2e-38 in magnitude or --dtype f64")
        XCTAssertThrowsError(try m.validate(for: .f32, file: "m.json")) { e in
            XCTAssertTrue("\(e)".hasPrefix("m.json: layers[2] (layernorm): eps 1e-300"), "\(e)")
        }
        // An analysis keeps the file it was read from, and names it (the commands check the
        // constants once, through the analysis); a model built in code names none.
        XCTAssertThrowsError(try m.analyze(file: "m.json").validate(for: .f32)) { e in
            XCTAssertTrue("\(e)".hasPrefix("m.json: layers[2] (layernorm): eps 1e-300"), "\(e)")
        }
        XCTAssertThrowsError(try m.analyze().validate(for: .f32)) { e in
            XCTAssertTrue("\(e)".hasPrefix("layers[2] (layernorm): eps 1e-300"), "\(e)")
        }
        XCTAssertNoThrow(try m.analyze(file: "m.json").validate(for: .f64))
    }

    func testLeakySlopeBeyondFloat32() throws {
        let m = try model(modelText(layers: #"[{"type": "residual", "layers": [{"type": "leaky_relu", "negative_slope": 1e39}]}, {"type": "dense", "units": 1}]"#))
        XCTAssertEqual(m.issues(for: .f64), [])
        assertSingleProblem(m.issues(for: .f32), at: "layers[0].layers[0] (leaky_relu)",
                            "negative_slope 1e+39 is beyond the range of float32", "--dtype f64")
    }

    func testEveryLiteralFieldIsChecked() throws {
        let m = try model(modelText(layers: #"[{"type": "dense", "units": 1}]"#, loss: #"{"type": "huber", "delta": 1e-40}"#,
                                    optimizer: #"{"type": "adamw", "lr": 1e-39, "beta1": 0.9, "beta2": 0.9999999999, "eps": 1e-45, "weight_decay": 1e-50}"#))
        let issues = m.issues(for: .f32)
        assertProblem(issues, at: "loss (huber)", "delta 1e-40 loses its precision in float32")
        assertProblem(issues, at: "optimizer (adamw)", "lr 1e-39")
        assertProblem(issues, at: "optimizer (adamw)", "beta2 0.9999999999 is 1 in float32")
        assertProblem(issues, at: "optimizer (adamw)", "eps 1e-45")
        assertProblem(issues, at: "optimizer (adamw)", "weight_decay 1e-50 is 0 in float32; use 0 or at least 1.2e-38")
        XCTAssertEqual(issues.count, 5, "\(issues)")
        XCTAssertEqual(m.issues(for: .f64), [])
        // Zero stays allowed where it means something (no weight decay, no momentum).
        let sgd = try model(modelText(layers: #"[{"type": "dense", "units": 1}]"#,
                                      optimizer: #"{"type": "sgd", "lr": 0.1, "momentum": 0, "weight_decay": 0}"#))
        XCTAssertEqual(sgd.issues(for: .f32), [])
    }

    // Item 6: layernorm over two features is refused like over one.
    func testLayerNormOverTwoFeaturesIsRefused() {
        assertSingleProblem(problems(modelText(layers: #"[{"type": "dense", "units": 2}, {"type": "layernorm"}, {"type": "dense", "units": 1}]"#)),
                            at: "layers[1] (layernorm)", "last axis of 2 elements gives +-1 whatever the input",
                            "it needs 3 or more")
        assertSingleProblem(problems(modelText(input: #"{"length": 5, "channels": 2}"#, layers: """
            [{"type": "layernorm", "affine": false}, {"type": "flatten"}, {"type": "dense", "units": 1}]
            """)), at: "layers[0] (layernorm)", "last axis of 2 elements")
        XCTAssertEqual(problems(modelText(layers: #"[{"type": "dense", "units": 3}, {"type": "layernorm"}, {"type": "dense", "units": 1}]"#)), [])
    }

    // Item 7: echoed values are cut.
    func testShownCutsLongValues() {
        XCTAssertEqual(Messages.shown("abc"), "abc")
        let long = String(repeating: "x", count: 200_000)
        XCTAssertEqual(Messages.shown(long), String(repeating: "x", count: 60) + "... (200000 characters)")
    }

    func testHugeLossTypeGivesAShortMessage() {
        let long = String(repeating: "q", count: 200_000)
        let issues = problems(modelText(layers: #"[{"type": "dense", "units": 1}]"#, loss: "{\"type\": \"\(long)\"}"))
        assertSingleProblem(issues, at: "loss", "unknown loss \"qqq", "... (200000 characters)")
        XCTAssertLessThan(issues[0].description.count, 300)
    }

    func testHugeNamesOfLayersFieldsAndOptimizersAreCut() {
        let long = String(repeating: "z", count: 100_000)
        for (layers, optimizer) in [("[{\"type\": \"\(long)\"}]", #"{"type": "sgd", "lr": 0.1}"#),
                                    ("[{\"type\": \"dense\", \"units\": 1, \"\(long)\": 1}]", #"{"type": "sgd", "lr": 0.1}"#),
                                    (#"[{"type": "dense", "units": 1}]"#, "{\"type\": \"\(long)\"}"),
                                    ("[{\"type\": \"conv1d\", \"filters\": 1, \"kernel\": 1, \"padding\": \"\(long)\"}]", #"{"type": "sgd", "lr": 0.1}"#)] {
            let issues = problems(modelText(name: long, layers: layers, optimizer: optimizer))
            XCTAssertFalse(issues.isEmpty)
            for i in issues { XCTAssertLessThan(i.description.count, 400, String(i.description.prefix(200))) }
        }
    }

    // Item 8: file problems in plain words.
    func testModelFileProblemsInPlainWords() throws {
        let dir = FileManager.default.temporaryDirectory.path
        XCTAssertThrowsError(try Model.load(from: URL(fileURLWithPath: dir))) { e in
            XCTAssertTrue("\(e)".contains("cannot be read: is a directory"), "\(e)")
            XCTAssertFalse("\(e)".contains("NSCocoaErrorDomain"), "\(e)")
        }
        XCTAssertThrowsError(try Model.load(from: URL(fileURLWithPath: dir + "/no-such-\(UUID().uuidString).json"))) { e in
            XCTAssertTrue("\(e)".contains("cannot be read: does not exist"), "\(e)")
        }
    }
}
