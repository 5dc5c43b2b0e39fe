import Foundation
import XCTest

/// `--freeze`, `--train-only`, `--init` on the command line, and what describe shows.
extension CLITests {

    /// describe shows, side by side, what training only the head costs against full training.
    func testFineTuningDescribeShowsTheSavings() throws {
        let r = try nngen(["describe", "examples/digits_mlp.json", "--train-only", "layers.4.*"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for line in [
            "trainable parameters            650         17,226            0.038",
            "gradients                  2.54 KiB       67.3 KiB            0.038",
            "optimizer state            5.08 KiB      134.6 KiB            0.038",
            "FLOPs per training step   1,130,496      3,268,608            0.346",
            "(4 of 6 parameter tensors frozen: no gradient, no optimizer state, no backward work before the first trainable one)",
        ] {
            XCTAssertTrue(r.stdout.contains(line), "missing \"\(line)\" in:\n\(r.stdout)")
        }
        // The same model file with "trainable" fields gives the same table; without freezing, no table.
        let file = try nngen(["describe", "examples/digits_mlp_finetune.json"])
        XCTAssertTrue(file.stdout.contains("trainable parameters            650         17,226"), file.stdout)
        XCTAssertFalse(try nngen(["describe", "examples/digits_mlp.json"]).stdout.contains("Training (float32)"))
    }

    func testFineTuningPatternThatMatchesNothingListsTheParameters() throws {
        let r = try nngen(["train", "examples/digits_mlp.json", "--data", "examples/data/digits.csv",
                               "--freeze", "layers.9.*"])
        assertUserError(r, contains: [
            #"--freeze: "layers.9.*" matches no parameter; the parameters are: layers.0.weight, layers.0.bias, "#
                + "layers.2.weight, layers.2.bias, layers.4.weight, layers.4.bias",
        ])
        let all = try nngen(["describe", "examples/digits_mlp.json", "--freeze", "*"])
        assertUserError(all, contains: ["nothing is trainable: every parameter is frozen"])
    }

    func testFineTuningInitCannotBeCombinedWithResume() throws {
        let r = try nngen(["train", "examples/digits_mlp.json", "--data", "examples/data/digits.csv",
                               "--init", "a.safetensors", "--resume", "b.safetensors"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--init and --resume cannot be combined"), r.stderr)
        XCTAssertEqual(try nngen(["train", "--init-partial"]).status, 2)
    }

    /// Training only the head from a checkpoint: the frozen tensors come out bit for bit as they
    /// went in, the head changes.
    func testFineTuningFromACheckpointKeepsFrozenTensors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-ft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let full = dir.appendingPathComponent("full.safetensors").path
        let head = dir.appendingPathComponent("head.safetensors").path
        XCTAssertEqual(try nngen(["train", "examples/digits_mlp.json", "--data", "examples/data/digits.csv",
                                      "--epochs", "2", "--save", full]).status, 0)
        let r = try nngen(["train", "examples/digits_mlp.json", "--data", "examples/data/digits.csv", "--epochs", "1",
                               "--train-only", "layers.4.*", "--init", full, "--save", head])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("  initial parameters: 6 tensors from \(full)\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  training 650 of 17,226 parameters; frozen: layers.0.weight, layers.0.bias, "
                                        + "layers.2.weight, layers.2.bias\n"), r.stdout)
        let before = try safetensorsBytes(full), after = try safetensorsBytes(head)
        for name in ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"] {
            XCTAssertEqual(before[name], after[name], name)
        }
        XCTAssertNotEqual(before["layers.4.weight"], after["layers.4.weight"])
        XCTAssertNil(after["optimizer.exp_avg.layers.0.weight"])
        XCTAssertNotNil(after["optimizer.exp_avg.layers.4.weight"])
    }

    /// The raw bytes of each tensor of a safetensors file, by name (read by hand: no DataIO here).
    func safetensorsBytes(_ path: String) throws -> [String: Data] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any])
        var out: [String: Data] = [:]
        for (name, value) in header where name != "__metadata__" {
            let offsets = try XCTUnwrap((value as? [String: Any])?["data_offsets"] as? [Int])
            out[name] = data.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1]))
        }
        return out
    }
}
