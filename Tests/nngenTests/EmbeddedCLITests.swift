import Foundation
import XCTest

/// `nngen emit --target embedded` and `nngen describe --target` from the command line: the files,
/// the footprint, and the exit codes and messages of their errors (docs/EMBEDDED.md).
extension CLITests {
    func testEmitEmbeddedWritesTheDeviceProgramAndItsFootprint() throws {
        let dir = try tempFile("x", "").deletingLastPathComponent().appendingPathComponent("device")
        let r = try nngen(["emit", "examples/iris.json", "-o", dir.path, "--target", "embedded",
                           "--embed-data", "examples/data/iris.csv", "--embed-rows", "64", "--epochs", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("Footprint on cortex-m4 (train_device.c, full training)\nRAM\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  shuffle order                          128 B  64 uint16_t\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  embedded data             1.25 KiB (1,280 B)  64 rows\n"), r.stdout)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(names, ["Makefile", "device_host.c", "device_mps2.ld", "device_startup.c", "iris.c", "iris.h",
                               "iris_data.c", "iris_device.h", "train_device.c"])
        let header = try String(contentsOf: dir.appendingPathComponent("iris_device.h"), encoding: .utf8)
        XCTAssertTrue(header.contains("#define iris_DEVICE_EPOCHS 2 "), header)
        XCTAssertTrue(header.contains("#define iris_DATA_ROWS 64 "), header)
        let trainer = try String(contentsOf: dir.appendingPathComponent("train_device.c"), encoding: .utf8)
        for call in ["malloc(", "calloc(", "<stdio.h>", "printf(", "fopen("] {
            XCTAssertFalse(trainer.contains(call), "train_device.c uses \(call)")
        }
        XCTAssertTrue(trainer.contains("static float nn_arena[iris_ARENA_COUNT]"), trainer)
    }

    /// A model with frozen layers: describe shows them in flash and fits a 64 KiB budget (the goal
    /// of issue 16 for digits_mlp_finetune); emit needs --embed-params for them.
    func testFineTuningTheDigitsHeadFitsIn64KiBAndNeedsACheckpoint() throws {
        let r = try nngen(["describe", "examples/digits_mlp_finetune.json", "--target", "cortex-m4", "--ram-budget", "64KiB"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for line in ["Footprint on cortex-m4 (train_device.c, fine-tuning: 650 of 17,226 parameters trained)",
                     "  trained parameters        2.54 KiB (2,600 B)  650 float\n",
                     "  kernel panels             8.00 KiB (8,192 B)  2,048 float (digits_mlp_finetune.c's nn_locals)\n",
                     "  frozen parameters        64.8 KiB (66,304 B)  16,576 float\n"] {
            XCTAssertTrue(r.stdout.contains(line), "missing \"\(line)\" in:\n\(r.stdout)")
        }
        let dir = try tempFile("x", "").deletingLastPathComponent().appendingPathComponent("ft-device")
        let missing = try nngen(["emit", "examples/digits_mlp_finetune.json", "-o", dir.path, "--target", "embedded",
                                 "--embed-data", "examples/data/digits.csv", "--embed-rows", "64"])
        assertUserError(missing, contains: [
            "model digits_mlp_finetune has frozen layers (layers[0], layers[2]): on the device their parameters stay in "
                + "flash and never change, so they must come from a checkpoint; give --embed-params CKPT"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path), "the output directory was created")
    }

    func testEmbeddedFlagsWithoutTheTargetAreUsageErrors() throws {
        let dir = try tempFile("x", "").deletingLastPathComponent().path
        let r = try nngen(["emit", "examples/iris.json", "-o", dir, "--embed-data", "examples/data/iris.csv"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--embed-data needs --target embedded"), r.stderr)
        let noData = try nngen(["emit", "examples/iris.json", "-o", dir, "--target", "embedded"])
        XCTAssertEqual(noData.status, 2, noData.stderr)
        XCTAssertTrue(noData.stderr.contains("--target embedded needs --embed-data FILE"), noData.stderr)
        let budget = try nngen(["describe", "examples/iris.json", "--ram-budget", "64K"])
        XCTAssertEqual(budget.status, 2, budget.stderr)
        XCTAssertTrue(budget.stderr.contains("--ram-budget needs --target"), budget.stderr)
    }

    func testRamBudgetAndEmbedLimitAreUserErrorsThatWriteNothing() throws {
        let dir = try tempFile("x", "").deletingLastPathComponent().appendingPathComponent("out")
        let over = try nngen(["emit", "examples/digits_mlp.json", "-o", dir.path, "--target", "embedded",
                              "--embed-data", "examples/data/digits.csv", "--ram-budget", "256KiB"])
        assertUserError(over, contains: ["model digits_mlp needs ", " over the --ram-budget of 256.0 KiB (262,144 B)",
                                         "freeze (\"trainable\": false) or shrink layer layers[0]"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("train_device.c").path))
        let big = try nngen(["emit", "examples/digits_mlp.json", "-o", dir.path, "--target", "embedded",
                             "--embed-data", "examples/data/digits.csv", "--embed-limit", "64KiB"])
        assertUserError(big, contains: ["examples/data/digits.csv: 1,797 rows take 456.3 KiB (467,220 B) as C arrays",
                                        "embed at most 252 rows (--embed-rows 252)"])
        let describe = try nngen(["describe", "examples/iris.json", "--target", "cortex-m4", "--ram-budget", "4KiB"])
        assertUserError(describe, contains: ["model iris needs ", "over the --ram-budget of 4.00 KiB (4,096 B)"])
        XCTAssertTrue(describe.stdout.contains("Footprint on cortex-m4"), describe.stdout)
    }
}
