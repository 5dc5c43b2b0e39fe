import Foundation
import NNGen
import XCTest

/// `nngen train`'s features through the library: `ModelTrainer.fit` with `FitOptions`, freezing
/// and `loadParameters` give the bytes the command gives with the same flags (the command run as
/// a process: the nngen binary built next to the tests).
final class TrainingFeaturesLibraryTests: XCTestCase {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    private static let irisCSV = root.appendingPathComponent("examples/data/iris.csv").path
    private static let irisJSON = root.appendingPathComponent("examples/iris.json").path
    private static let iris = Model("iris", input: .features(4), batch: 16, loss: .softmaxCrossEntropy,
                                    optimizer: .adam(lr: 0.01), standardize: true) { Dense(16); ReLU(); Dense(3) }

    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-lib-features-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// The nngen binary built with the tests (next to the test bundle, else .build/debug).
    private static func nngen() throws -> String {
        let candidates = [Bundle(for: TrainingFeaturesLibraryTests.self).bundleURL.deletingLastPathComponent(),
                          root.appendingPathComponent(".build/debug")]
        let found = candidates.map { $0.appendingPathComponent("nngen").path }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        return try XCTUnwrap(found, "no nngen binary in \(candidates.map(\.path)) (swift build first)")
    }

    /// Runs `nngen ARGS`; returns the exit status and stdout.
    private func run(_ args: [String]) throws -> (status: Int32, stdout: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Self.nngen())
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stdout = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: errData, as: UTF8.self))
        return (p.terminationStatus, stdout)
    }

    /// An epoch line without its speed (`  1234 samples/s`), which differs between runs.
    private static func withoutSpeed(_ line: String) -> String {
        line.replacingOccurrences(of: #"  [0-9]+ samples/s$"#, with: "", options: .regularExpression)
    }

    /// A metrics CSV without its two wall-clock columns (samples_per_s, wall_s).
    private static func withoutClock(_ csv: String) -> [String] {
        csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).dropLast(2).joined(separator: ",") }
    }

    private func bytes(_ p: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: p)) }

    /// A cosine schedule with warm-up, clipping, patience and save-best through `fit` gives the
    /// command's epoch lines, last and best checkpoints byte for byte, log rows and early stop.
    func testScheduleClipPatienceSaveBestEqualTheCommand() throws {
        let cli = try run(["train", Self.irisJSON, "--data", Self.irisCSV, "--epochs", "30", "--lr", "0.05",
                           "--schedule", "cosine", "--warmup", "2", "--lr-min", "0.001", "--clip-norm", "0.5",
                           "--patience", "3", "--min-delta", "0.001", "--save-best", path("cli-best.safetensors"),
                           "--save", path("cli.safetensors"), "--log", path("cli.csv")])
        let cliLines = cli.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("epoch ") }

        let trainer = try ModelTrainer(Self.iris)
        let data = try ModelDataset(csv: Self.irisCSV, for: Self.iris)
        var lines: [String] = []
        let summary = try trainer.fit(data, epochs: 30, learningRate: 0.05, save: path("api.safetensors"),
                                      options: FitOptions(schedule: .cosine(warmup: 2, lrMin: 0.001), clipNorm: 0.5,
                                                          saveBest: path("api-best.safetensors"), minDelta: 0.001,
                                                          patience: 3, log: path("api.csv"))) { lines.append($0.line) }

        XCTAssertEqual(lines.map(Self.withoutSpeed), cliLines.map(Self.withoutSpeed))
        XCTAssertTrue(lines[0].hasPrefix("epoch 1/30  lr "), lines[0])
        // The run stops early (the command says so too), and both agree on where.
        let stopped = try XCTUnwrap(summary.stoppedEarly)
        XCTAssertLessThan(summary.reports.count, 30)
        XCTAssertEqual(trainer.epochsCompleted, summary.reports.count)
        XCTAssertTrue(cli.stdout.contains("stopped early after epoch \(summary.reports.count): \(stopped)"), cli.stdout)
        let best = try XCTUnwrap(summary.bestCheckpoint)
        XCTAssertTrue(cli.stdout.contains("best checkpoint: \(path("cli-best.safetensors")) (epoch \(best.epoch))"), cli.stdout)
        XCTAssertEqual(summary.reports.count - best.epoch, 3)

        XCTAssertEqual(try bytes(path("api.safetensors")), try bytes(path("cli.safetensors")))
        XCTAssertEqual(try bytes(path("api-best.safetensors")), try bytes(path("cli-best.safetensors")))
        XCTAssertNotEqual(try bytes(path("api-best.safetensors")), try bytes(path("api.safetensors")))
        let apiLog = try String(contentsOfFile: path("api.csv"), encoding: .utf8)
        XCTAssertEqual(Self.withoutClock(apiLog), Self.withoutClock(try String(contentsOfFile: path("cli.csv"), encoding: .utf8)))
        XCTAssertEqual(apiLog.split(separator: "\n").count, summary.reports.count + 1)
        // `save` writes what `checkpoint` holds, with the schedule, clipping and monitor.
        try trainer.save(path("saved.safetensors"))
        XCTAssertEqual(try bytes(path("saved.safetensors")), try bytes(path("cli.safetensors")))
        let ck = trainer.checkpoint
        XCTAssertEqual(ck.schedule, .cosine(warmup: 2, lrMin: 0.001))
        XCTAssertEqual(ck.clipNorm, 0.5)
        XCTAssertEqual(ck.monitor?.patience, 3)
        XCTAssertEqual(ck.monitor?.best?.epoch, best.epoch)
    }

    /// A second `fit` continues the first one's schedule and clipping as `--resume` does:
    /// 4 + 4 epochs through the API equal `nngen train --epochs 4` then `--resume --epochs 8`.
    func testSecondFitContinuesLikeResume() throws {
        _ = try run(["train", Self.irisJSON, "--data", Self.irisCSV, "--epochs", "4", "--schedule", "step",
                     "--step-size", "3", "--gamma", "0.5", "--clip-norm", "1", "--save", path("cli.safetensors")])
        _ = try run(["train", "--resume", path("cli.safetensors"), "--data", Self.irisCSV, "--epochs", "8",
                     "--save", path("cli.safetensors")])
        let trainer = try ModelTrainer(Self.iris)
        let data = try ModelDataset(csv: Self.irisCSV, for: Self.iris)
        try trainer.fit(data, epochs: 4, options: FitOptions(schedule: .step(size: 3, gamma: 0.5), clipNorm: 1))
        let second = try trainer.fit(data, epochs: 4, save: path("api.safetensors"))
        XCTAssertEqual(second.reports.map(\.epoch), [5, 6, 7, 8])
        XCTAssertEqual(second.reports.map(\.learningRate), [0.005, 0.005, 0.0025, 0.0025])
        XCTAssertEqual(try bytes(path("api.safetensors")), try bytes(path("cli.safetensors")))
        // A trainer made from the checkpoint continues the same way.
        let loaded = try ModelTrainer(checkpoint: path("api.safetensors"))
        XCTAssertEqual(loaded.checkpoint.schedule, .step(size: 3, gamma: 0.5))
        XCTAssertEqual(loaded.checkpoint.clipNorm, 1)
        try loaded.save(path("resaved.safetensors"))
        XCTAssertEqual(try bytes(path("resaved.safetensors")), try bytes(path("cli.safetensors")))
    }

    /// A model frozen in the DSL is the JSON model with `"trainable"` and gives the same C; the
    /// `freeze:` patterns of `ModelTrainer` give the same model as `--freeze`.
    func testFrozenDSLModelEqualsJSON() throws {
        let json = """
        {"name": "iris", "input": {"features": 4}, "batch": 16, "standardize": true,
         "layers": [{"type": "dense", "units": 16, "trainable": false}, {"type": "relu"},
                    {"type": "dense", "units": 3, "trainable": "bias"}],
         "loss": {"type": "softmax_cross_entropy"}, "optimizer": {"type": "adam", "lr": 0.01}}
        """
        let fromJSON = try Model.decode(Data(json.utf8), source: "frozen-iris.json")
        let dsl = Model("iris", input: .features(4), batch: 16, loss: .softmaxCrossEntropy,
                        optimizer: .adam(lr: 0.01), standardize: true) { Dense(16).frozen(); ReLU(); Dense(3).biasOnly() }
        XCTAssertEqual(dsl, fromJSON)
        for dtype in [ScalarType.f32, .f64] {
            XCTAssertEqual(try dsl.cFiles(dtype: dtype).map(\.contents), try fromJSON.cFiles(dtype: dtype).map(\.contents))
        }
        let c = try XCTUnwrap(try dsl.cFiles().first { $0.name == "iris.c" }).contents
        XCTAssertNotEqual(c, try XCTUnwrap(try Self.iris.cFiles().first { $0.name == "iris.c" }).contents)
        // freeze: / trainOnly: as --freeze / --train-only.
        let patterned = try ModelTrainer(Self.iris, freeze: ["layers.0.*", "layers.2.weight"])
        XCTAssertEqual(patterned.model, dsl)
        XCTAssertEqual(try ModelTrainer(Self.iris, trainOnly: ["layers.2.bias"]).model, dsl)
        XCTAssertThrowsError(try ModelTrainer(Self.iris, freeze: ["layers.9.*"])) { XCTAssertTrue($0 is ModelSpecError, "\($0)") }
    }

    /// `loadParameters` is `--init`: fine-tuning a frozen model from a pretrained checkpoint gives
    /// the command's checkpoint byte for byte, and `partial` is `--init-partial`.
    func testInitThroughTheAPIEqualsTheCommand() throws {
        let pretrained = try ModelTrainer(Self.iris, seed: 7)
        try pretrained.fit(try ModelDataset(csv: Self.irisCSV, for: Self.iris), epochs: 3, save: path("pre.safetensors"))

        let cli = try run(["train", Self.irisJSON, "--data", Self.irisCSV, "--epochs", "3", "--freeze", "layers.0.*",
                           "--init", path("pre.safetensors"), "--save", path("cli.safetensors")])
        XCTAssertTrue(cli.stdout.contains("  initial parameters: 4 tensors from \(path("pre.safetensors"))"), cli.stdout)

        let tuned = try ModelTrainer(Self.iris, freeze: ["layers.0.*"])
        XCTAssertEqual(try tuned.loadParameters(from: path("pre.safetensors")),
                       ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"])
        try tuned.fit(try ModelDataset(csv: Self.irisCSV, for: Self.iris), epochs: 3, save: path("api.safetensors"))
        XCTAssertEqual(try bytes(path("api.safetensors")), try bytes(path("cli.safetensors")))
        XCTAssertEqual(Array(tuned.parameters[0..<80]), Array(pretrained.parameters[0..<80]))
        XCTAssertNotEqual(Array(tuned.parameters[80...]), Array(pretrained.parameters[80...]))
    }

    /// `threads:` is `--threads`: the cc back end with OpenMP gives the parameters of one thread;
    /// tcc refuses more than one, as the command does.
    func testThreadsGiveTheSameParameters() throws {
        let data = try ModelDataset(csv: Self.irisCSV, for: Self.iris)
        let one = try ModelTrainer(Self.iris, backend: .cc), two = try ModelTrainer(Self.iris, backend: .cc, threads: 2)
        try one.fit(data, epochs: 2)
        try two.fit(data, epochs: 2)
        XCTAssertEqual(two.parameters, one.parameters)
        XCTAssertThrowsError(try ModelTrainer(Self.iris, threads: 2)) {
            XCTAssertEqual("\($0)", "--threads 2 needs the cc back end (tcc has no OpenMP); use --backend cc or --threads 1")
        }
    }

    /// Out-of-range options throw the command's messages, naming the flag, before any epoch.
    func testOptionErrorsNameTheFlag() throws {
        let trainer = try ModelTrainer(Self.iris)
        let data = try ModelDataset(csv: Self.irisCSV, for: Self.iris)
        func message(_ options: FitOptions, epochs: Int = 5) -> String {
            do {
                try trainer.fit(data, epochs: epochs, options: options)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(message(FitOptions(clipNorm: -1)), "--clip-norm must be a positive number (got -1)")
        XCTAssertEqual(message(FitOptions(patience: -2)), "--patience must be 0 or more epochs (got -2)")
        XCTAssertEqual(message(FitOptions(schedule: .cosine(warmup: 5))),
                       "--warmup 5 must be fewer epochs than the run's 5 (--epochs), so that the schedule has epochs left")
        XCTAssertEqual(message(FitOptions(log: path("metrics.txt"))), "--log needs a file ending in .csv or .jsonl, got \(path("metrics.txt"))")
        XCTAssertEqual(trainer.epochsCompleted, 0)
        let noValidation = try ModelTrainer(Self.iris, validationSplit: 0)
        XCTAssertThrowsError(try noValidation.fit(data, epochs: 2, options: FitOptions(saveBest: path("b.safetensors")))) {
            XCTAssertEqual("\($0)", "--save-best watches a validation metric, but --val-split is 0; hold out a validation part "
                           + "(--val-split 0.2)")
        }
    }
}
