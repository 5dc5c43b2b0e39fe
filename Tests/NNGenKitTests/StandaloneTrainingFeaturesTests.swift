import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Schedules, clipping, the best checkpoint and early stopping in both trainers: the standalone
/// `./train` and nngen's Swift trainer (the cc back end, as `testSameLossesAndCheckpointAsSwiftTrainerWithCC`)
/// print the same epoch lines, stop at the same epoch for the same reason and write the same
/// checkpoint bytes, and a resumed run continues mid-schedule and mid-patience bit for bit.
extension StandaloneTests {
    /// One run's settings, as ./train flags and as Swift options.
    struct FeatureRun {
        var epochs: Int
        var flags: TrainingFeatureFlags
        var args: [String]
    }

    /// An epoch line without its samples/s field (a timing).
    static func withoutSpeed(_ line: String) -> String {
        line.components(separatedBy: "  ").dropLast().joined(separator: "  ")
    }

    static func epochLinesWithoutSpeed(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("epoch ") }.map(withoutSpeed)
    }

    /// The Swift trainer on the same data with the same settings, saving to `save` and `best`.
    static func swiftTrainer(_ build: Build, _ data: String, _ run: FeatureRun, scalar: ScalarType, save: URL?, best: URL?,
                             resume: URL? = nil) throws -> Trainer {
        let dataset = try ModelData.load(dataURL(data), for: build.analysis)
        var flags = run.flags
        flags.saveBest = best
        let checkpoint = try resume.map { try Checkpoint.read(from: $0) }
        let options = TrainingOptions(epochs: run.epochs, learningRate: build.analysis.model.optimizer.learningRate, seed: 1,
                                      validationSplit: 0.2, scalar: scalar, save: save).applying(flags, resuming: checkpoint)
        return try Trainer(analysis: build.analysis, dataset: dataset, options: options, backend: CCBackend(),
                           resume: checkpoint, resumeFile: resume)
    }

    func testFeatureRunsPrintAndSaveTheSameInBothTrainers() throws {
        let cases: [(String, String, ScalarType, FeatureRun)] = [
            ("iris", "iris.csv", .f32, FeatureRun(
                epochs: 14,
                flags: TrainingFeatureFlags(schedule: .cosine, warmup: 2, lrMin: 0.001, clipNorm: 0.5, monitor: .valAcc,
                                            patience: 4),
                args: ["--schedule", "cosine", "--warmup", "2", "--lr-min", "0.001", "--clip-norm", "0.5",
                       "--monitor", "val_acc", "--patience", "4"])),
            ("breast_cancer", "breast_cancer.csv", .f64, FeatureRun(
                epochs: 12,
                flags: TrainingFeatureFlags(schedule: .step, stepSize: 2, gamma: 0.5, clipNorm: 1, minDelta: 0.006, patience: 1),
                args: ["--schedule", "step", "--step-size", "2", "--gamma", "0.5", "--clip-norm", "1", "--min-delta", "0.006",
                       "--patience", "1"])),
            ("diabetes_huber", "diabetes.csv", .f32, FeatureRun(
                epochs: 6, flags: TrainingFeatureFlags(schedule: .onecycle, clipNorm: 0.1),
                args: ["--schedule", "onecycle", "--clip-norm", "0.1"])),
        ]
        for (name, data, scalar, run) in cases {
            let build = try Self.build(name, scalar)
            let dir = try makeScratchDirectory()
            let c = try Self.train(build, data, ["--epochs", "\(run.epochs)", "--save", "c.st", "--save-best", "c-best.st"] + run.args,
                                   in: dir)
            XCTAssertEqual(c.status, 0, c.stderr)
            let trainer = try Self.swiftTrainer(build, data, run, scalar: scalar, save: dir.appendingPathComponent("s.st"),
                                                best: dir.appendingPathComponent("s-best.st"))
            let summary = try trainer.run()
            let swiftLines = summary.reports.map { Self.withoutSpeed($0.line) }
            XCTAssertEqual(Self.epochLinesWithoutSpeed(c.stdout), swiftLines, name)
            XCTAssertTrue(swiftLines.allSatisfy { $0.contains("  lr ") }, "\(name): the lr is in every line")
            for (a, b) in [("c.st", "s.st"), ("c-best.st", "s-best.st")] {
                XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent(a)), try Data(contentsOf: dir.appendingPathComponent(b)),
                               "\(name): \(a) and \(b)")
            }
            let best = try XCTUnwrap(summary.bestCheckpoint, name)
            XCTAssertEqual(try Checkpoint.read(from: dir.appendingPathComponent("s-best.st")).epoch, best.epoch, name)
            XCTAssertTrue(c.stderr.contains("./train: best c-best.st (epoch \(best.epoch))\n")
                          || c.stderr.contains(": best c-best.st (epoch \(best.epoch))\n"), c.stderr)
            if let why = summary.stoppedEarly {
                XCTAssertTrue(c.stderr.contains("stopped early after epoch \(summary.reports.last?.epoch ?? 0): \(why)\n"),
                              "\(name): \(c.stderr) vs \(why)")
                XCTAssertLessThan(summary.reports.count, run.epochs, name)
            } else {
                XCTAssertFalse(c.stderr.contains("stopped early"), c.stderr)
                XCTAssertEqual(summary.reports.count, run.epochs, name)
            }
            if name == "breast_cancer" { XCTAssertNotNil(summary.stoppedEarly, "the f64 case should stop early") }
        }
    }

    /// A checkpoint taken mid-schedule and mid-patience (an epoch after which the metric has not
    /// improved) resumes to the same final bytes as the straight run, in both trainers, with the
    /// flags repeated or left out (the checkpoint keeps them).
    func testResumeContinuesMidScheduleAndMidPatienceBitForBit() throws {
        try checkResumeMidRun("iris", "iris.csv", .f32, FeatureRun(
            epochs: 16, flags: TrainingFeatureFlags(schedule: .cosine, warmup: 3, clipNorm: 0.3, minDelta: 0.005, patience: 3),
            args: ["--schedule", "cosine", "--warmup", "3", "--clip-norm", "0.3", "--min-delta", "0.005", "--patience", "3"]),
            after: 3)
        // A schedule that changes every step, in f64, watching the accuracy.
        try checkResumeMidRun("breast_cancer", "breast_cancer.csv", .f64, FeatureRun(
            epochs: 12, flags: TrainingFeatureFlags(schedule: .onecycle, clipNorm: 2, monitor: .valAcc, patience: 4),
            args: ["--schedule", "onecycle", "--clip-norm", "2", "--monitor", "val_acc", "--patience", "4"]),
            after: 1)
    }

    private func checkResumeMidRun(_ name: String, _ data: String, _ scalar: ScalarType, _ run: FeatureRun, after: Int) throws {
        let build = try Self.build(name, scalar)
        let dir = try makeScratchDirectory()
        let save = dir.appendingPathComponent("straight.st"), mid = dir.appendingPathComponent("mid.st")
        let straight = try Self.swiftTrainer(build, data, run, scalar: scalar, save: save, best: nil)
        var midEpoch = 0
        let straightSummary = try straight.run(onEpoch: { report in
            // The first epoch that did not improve (after `after`): mid-schedule, mid-patience.
            if midEpoch == 0, report.epoch > after, (straight.monitorState?.badEpochs ?? 0) > 0 {
                midEpoch = report.epoch
                try? FileManager.default.copyItem(at: save, to: mid)
            }
        })
        XCTAssertGreaterThan(midEpoch, 0, "\(name): no epoch without improvement")
        XCTAssertLessThan(midEpoch, straightSummary.reports.last?.epoch ?? 0, name)
        let midCheckpoint = try Checkpoint.read(from: mid)
        XCTAssertEqual(midCheckpoint.schedule?.kind, run.flags.schedule, name)
        XCTAssertGreaterThan(midCheckpoint.monitor?.badEpochs ?? 0, 0, name)
        let final = try Data(contentsOf: save)
        let straightLines = straightSummary.reports.filter { $0.epoch > midEpoch }.map { Self.withoutSpeed($0.line) }

        // Swift, flags repeated.
        let resumedSave = dir.appendingPathComponent("resumed.st")
        try FileManager.default.copyItem(at: mid, to: resumedSave)
        let resumed = try Self.swiftTrainer(build, data, run, scalar: scalar, save: resumedSave, best: nil, resume: resumedSave)
        let resumedSummary = try resumed.run()
        XCTAssertEqual(resumedSummary.reports.map { Self.withoutSpeed($0.line) }, straightLines, name)
        XCTAssertEqual(resumedSummary.stoppedEarly, straightSummary.stoppedEarly, name)
        XCTAssertEqual(try Data(contentsOf: resumedSave), final, "\(name): Swift resume")

        // ./train, flags repeated, then left out.
        for args in [run.args, []] {
            let out = dir.appendingPathComponent("c-resumed.st")
            try? FileManager.default.removeItem(at: out)
            try FileManager.default.copyItem(at: mid, to: out)
            let c = try Self.train(build, data, ["--epochs", "\(run.epochs)", "--resume", out.path, "--save", out.path] + args,
                                   in: dir)
            XCTAssertEqual(c.status, 0, c.stderr)
            XCTAssertEqual(Self.epochLinesWithoutSpeed(c.stdout), straightLines, "\(name): args \(args)")
            XCTAssertEqual(try Data(contentsOf: out), final, "\(name): ./train resume with args \(args)")
            if let why = straightSummary.stoppedEarly { XCTAssertTrue(c.stderr.contains(why), c.stderr) }
        }
    }

    /// Every new flag rejects a bad value with exit 2, naming the flag and the valid range.
    func testFeatureFlagsRejectBadValuesWithExit2() throws {
        let build = try Self.build("iris", .f32)
        let dir = try makeScratchDirectory()
        let cases: [([String], String)] = [
            (["--patience", "-1"], "--patience needs an integer of at least 0, got '-1'"),
            (["--clip-norm", "0"], "--clip-norm must be a positive number, got '0'"),
            (["--warmup", "5", "--epochs", "5"], "--warmup 5 must be fewer epochs than the run's 5 (--epochs)"),
            (["--schedule", "linear"], "--schedule must be one of constant, step, cosine, onecycle; got 'linear'"),
            (["--batch", "0"], "--batch needs an integer of at least 1, got '0'"),
            (["--batch", "8"], "--batch 8: this program was generated for batch 16"),
            (["--threads", "4"], "--threads 4: this program was built for 1 thread"),
            (["--gamma", "1.5"], "--gamma must be in (0, 1], got '1.5'"),
            (["--step-size", "0"], "--step-size needs an integer of at least 1, got '0'"),
            (["--min-delta", "-0.1"], "--min-delta must be 0 or more, got '-0.1'"),
            (["--lr-min", "0.5"], "--lr-min 0.5 must not exceed the learning rate 0.01"),
            (["--monitor", "val_r2"], "--monitor must be val_loss or val_acc; got 'val_r2'"),
            (["--schedule", "onecycle", "--warmup", "1"], "--warmup cannot be combined with --schedule onecycle"),
            (["--save-best", "b.st", "--val-split", "0"], "--save-best watches a validation metric, but --val-split is 0"),
        ]
        for (args, message) in cases {
            let r = try Self.train(build, "iris.csv", args, in: dir)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        let regression = try Self.build("diabetes_huber", .f32)
        let r = try Self.train(regression, "diabetes.csv", ["--monitor", "val_acc", "--patience", "2"], in: dir)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("--monitor val_acc needs a classification loss"), r.stderr)
    }
}
