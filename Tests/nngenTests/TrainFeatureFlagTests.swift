import Foundation
import XCTest

/// `nngen train`'s schedule, clipping, best-checkpoint, early-stopping, batch and thread flags:
/// bad values are usage errors (exit 2) naming the flag and its range; a run prints the lr in
/// its epoch lines and names both checkpoints and why it stopped in its summary.
extension CLITests {
    func testTrainFeatureFlagsRejectBadValuesWithExit2() throws {
        let model = ["train", "examples/iris.json", "--data", "examples/data/iris.csv"]
        let cases: [([String], String)] = [
            (["--patience", "-1"], "--patience must be 0 or more epochs (got -1)"),
            (["--clip-norm", "0"], "--clip-norm must be a positive number (got 0)"),
            (["--clip-norm", "-2"], "--clip-norm must be a positive number (got -2)"),
            (["--warmup", "5", "--epochs", "5"], "--warmup 5 must be fewer epochs than the run's 5 (--epochs)"),
            (["--schedule", "linear"], "--schedule must be one of constant, step, cosine, onecycle (got 'linear')"),
            (["--batch", "0"], "--batch must be at least 1 (got 0)"),
            (["--threads", "0"], "--threads must be 1 or more (got 0)"),
            (["--threads", "2", "--backend", "tcc"], "--threads 2 needs --backend cc or auto (tcc has no OpenMP)"),
            (["--gamma", "0"], "--gamma must be in (0, 1] (got 0)"),
            (["--step-size", "0"], "--step-size must be at least 1 epoch (got 0)"),
            (["--min-delta", "-0.1"], "--min-delta must be 0 or more (got -0.1)"),
            (["--lr-min", "0.5"], "--lr-min 0.5 must not exceed the learning rate 0.01"),
            (["--monitor", "val_r2"], "--monitor must be val_loss or val_acc (got 'val_r2')"),
            (["--schedule", "onecycle", "--warmup", "1"], "--warmup cannot be combined with --schedule onecycle"),
            (["--patience", "3", "--val-split", "0"], "--patience watches a validation metric, but --val-split is 0"),
        ]
        for (args, message) in cases {
            let r = try nngen(model + args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        let r = try nngen(["train", "examples/diabetes.json", "--data", "examples/data/diabetes.csv", "--monitor", "val_acc",
                           "--save-best", "b.st"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--monitor val_acc needs a classification loss; mse is scored by val_loss"), r.stderr)
    }

    func testTrainSummaryNamesBothCheckpointsAndWhyItStopped() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-features-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let last = dir.appendingPathComponent("last.st").path, best = dir.appendingPathComponent("best.st").path
        let r = try nngen(["train", "examples/breast_cancer.json", "--data", "examples/data/breast_cancer.csv", "--dtype", "f64",
                           "--epochs", "12", "--schedule", "step", "--step-size", "2", "--gamma", "0.5", "--clip-norm", "1",
                           "--min-delta", "0.006", "--patience", "1", "--save", last, "--save-best", best, "--batch", "16"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let epochs = lines.filter { $0.hasPrefix("epoch ") }
        XCTAssertTrue(epochs.first?.hasPrefix("epoch 1/12  lr 0.003  train_loss ") ?? false, r.stdout)
        XCTAssertTrue(epochs.dropFirst(2).first?.hasPrefix("epoch 3/12  lr 0.0015  train_loss ") ?? false, r.stdout)
        XCTAssertLessThan(epochs.count, 12, r.stdout)
        XCTAssertTrue(r.stdout.contains("steps of 16 per epoch"), r.stdout)
        XCTAssertTrue(lines.contains("  checkpoint:    \(last) (epoch \(epochs.count))"), r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  best checkpoint: \(best) (epoch ") }, r.stdout)
        XCTAssertTrue(lines.contains {
            $0.hasPrefix("  stopped early after epoch \(epochs.count): val_loss has not improved by more than 0.006 for 1 epoch (--patience 1); best ")
        }, r.stdout)
    }

    /// `nngen emit --batch N` generates the code (and ./train) for batch N, as `train --batch`.
    func testEmitBatchGeneratesTheCodeForThatBatch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-emit-batch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try nngen(["emit", "examples/iris.json", "-o", dir.path, "--batch", "8"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let header = try String(contentsOf: dir.appendingPathComponent("iris.h"), encoding: .utf8)
        XCTAssertTrue(header.contains("#define iris_BATCH 8\n"), header)
        let bad = try nngen(["emit", "examples/iris.json", "-o", dir.path, "--batch", "0"])
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--batch must be at least 1 (got 0)"), bad.stderr)
    }
}
