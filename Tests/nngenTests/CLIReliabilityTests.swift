import Foundation
import XCTest

/// Messages of the binary for file problems, negative option values, constants the dtype cannot
/// hold, save paths that cannot work, and huge values.
extension CLITests {
    func testDirectoriesAreNamedInPlainWords() throws {
        let dir = FileManager.default.temporaryDirectory.path
        let r = try nngen(["describe", dir])
        assertUserError(r, contains: [dir, "is a directory"])
        XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain"), r.stderr)

        let params = try tempFile("p.safetensors", "")
        XCTAssertEqual(try nngen(["init", "examples/digits_mlp.json", "-o", params.path]).status, 0)
        let p = try nngen(["predict", "examples/digits_mlp.json", "--params", params.path,
                           "--data", "examples/data/digits.csv", "-o", dir])
        // (After a note that the parameters file holds no standardizer.)
        XCTAssertEqual(p.status, 1, p.stderr)
        XCTAssertTrue(p.stderr.contains("error: cannot write \(dir): is a directory\n"), p.stderr)
        XCTAssertFalse(p.stderr.contains("NSCocoaErrorDomain"), p.stderr)
    }

    func testNegativeOptionValuesAreValidatedNotMissing() throws {
        for (args, message) in [(["--lr", "-1"], "--lr must be positive (got -1)"),
                                (["--epochs", "-3"], "--epochs must be at least 1 (got -3)"),
                                (["--val-split", "-0.5"], "--val-split must be at least 0 and below 1 (got -0.5)")] {
            let r = try nngen(["train"] + args)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains(message), r.stderr)
            XCTAssertFalse(r.stderr.contains("Missing value"), r.stderr)
        }
        let b = try nngen(["bench", "examples/digits_mlp.json", "--warmup", "-1"])
        XCTAssertEqual(b.status, 2, b.stderr)
        XCTAssertTrue(b.stderr.contains("--warmup must be 0 or more (got -1)"), b.stderr)
    }

    func testConstantsTheDtypeCannotHoldAreRefusedByEveryCommand() throws {
        let url = try tempFile("tiny_eps.json", """
        {"name": "tiny_eps", "input": {"features": 4}, "batch": 2,
         "layers": [{"type": "dense", "units": 4}, {"type": "layernorm", "eps": 1e-300}, {"type": "dense", "units": 1}],
         "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "lr": 0.1}}
        """)
        let expected = [url.path, "layers[1] (layernorm): eps 1e-300 is 0 in float32", "--dtype f64"]
        let out = url.deletingLastPathComponent().appendingPathComponent("out").path
        assertUserError(try nngen(["emit", url.path, "-o", out]), contains: expected)
        assertUserError(try nngen(["check", url.path]), contains: expected)
        assertUserError(try nngen(["bench", url.path, "--backend", "tcc"]), contains: expected)
        // grad checks the constants before it reads the parameter and batch files.
        assertUserError(try nngen(["grad", url.path, "--params", "none.safetensors", "--batch", "none.safetensors",
                                   "-o", out + ".safetensors"]), contains: expected)
        let csv = try tempFile("d.csv", (0..<8).map { i in "\(i),1,2,3,\(i)" }.joined(separator: "\n") + "\n")
        assertUserError(try nngen(["train", url.path, "--data", csv.path]), contains: expected)
        // float64 holds it.
        XCTAssertEqual(try nngen(["emit", url.path, "-o", out, "--dtype", "f64"]).status, 0)
        // --lr too small for float32.
        let lr = try nngen(["train", "--lr", "1e-40"])
        XCTAssertEqual(lr.status, 2, lr.stderr)
        XCTAssertTrue(lr.stderr.contains("--lr 1e-40 loses its precision in float32"), lr.stderr)
    }

    func testLayerNormOverTwoFeaturesIsAClearError() throws {
        let url = try tempFile("ln2.json", """
        {"name": "ln2", "input": {"features": 4}, "batch": 2,
         "layers": [{"type": "dense", "units": 2}, {"type": "layernorm"}, {"type": "dense", "units": 1}],
         "loss": {"type": "mse"}}
        """)
        assertUserError(try nngen(["check", url.path]),
                        contains: [url.path, "layers[1] (layernorm)", "+-1 whatever the input", "3 or more"])
    }

    func testSavePathsThatCannotWorkAreReportedBeforeTraining() throws {
        let dir = try tempFile("x", "").deletingLastPathComponent()
        let missing = dir.appendingPathComponent("no/such/m.ckpt").path
        let r = try nngen(["train", "--epochs", "1", "--save", missing])
        assertUserError(r, contains: [missing, "the directory \(dir.path)/no/such does not exist"])
        XCTAssertFalse(r.stdout.contains("epoch"), r.stdout)
        let folder = try nngen(["train", "--epochs", "1", "--save", dir.path])
        assertUserError(folder, contains: [dir.path, "it is a directory"])
        XCTAssertFalse(folder.stdout.contains("epoch"), folder.stdout)
    }

    func testHugeValuesAreCutInMessages() throws {
        let long = String(repeating: "w", count: 200_000)
        let url = try tempFile("long.json", """
        {"name": "m", "input": {"features": 4}, "batch": 2, "layers": [{"type": "dense", "units": 1}],
         "loss": {"type": "\(long)"}}
        """)
        let r = try nngen(["describe", url.path])
        assertUserError(r, contains: ["unknown loss", "(200000 characters)"])
        XCTAssertLessThan(r.stderr.count, 600)
        let d = try nngen(["emit", "examples/digits_mlp.json", "--dtype", String(repeating: "w", count: 100_000)])
        XCTAssertEqual(d.status, 2, String(d.stderr.prefix(300)))
        XCTAssertLessThan(d.stderr.count, 2000, String(d.stderr.prefix(300)))
        let csv = try tempFile("big.csv", "1,2,3,4,5\n1,2,3," + String(repeating: "9x", count: 500_000) + ",1\n")
        let ok = try tempFile("ok.json", """
        {"name": "m", "input": {"features": 4}, "batch": 1, "layers": [{"type": "dense", "units": 1}],
         "loss": {"type": "mse"}}
        """)
        let t = try nngen(["train", ok.path, "--data", csv.path])
        assertUserError(t, contains: [csv.path, "line 2, column 4", "(1000000 characters)"])
        XCTAssertLessThan(t.stderr.count, 600)
    }

    func testHugeColumnsStandardiseInTraining() throws {
        let model = try tempFile("huge.json", """
        {"name": "huge", "input": {"features": 2}, "batch": 2, "standardize": true,
         "layers": [{"type": "dense", "units": 1}], "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "lr": 0.01}}
        """)
        let rows = (0..<8).map { i in "\(i % 2 == 0 ? "" : "-")1e300,\(i),\(Double(i) / 10)" }
        let csv = try tempFile("huge.csv", "big,small,y\n" + rows.joined(separator: "\n") + "\n")
        let r = try nngen(["train", model.path, "--data", csv.path, "--epochs", "2", "--val-split", "0.25"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("epoch 2/2  train_loss"), r.stdout)
        XCTAssertFalse(r.stdout.contains("nan") || r.stdout.contains("inf"), r.stdout)
    }
}
