import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// The consistent CLI of issue 11: checkpoints carry their model (train --resume, eval, predict
/// without MODEL), eval on training's held-out part, predict --proba, --log/--plot/plot,
/// inspect, grad on a CSV batch, --version, emit --dump-after without -o, and the usage errors
/// (exit 2) that say what to add.
final class CLIWorkflowTests: XCTestCase {
    /// Runs the built nngen (the one CLITests finds) in `dir` (the package root by default).
    private func nngen(_ args: [String], in dir: URL? = nil) throws -> CLITests.Run {
        try CLITests.run(args, in: dir)
    }

    private func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-workflow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    private var iris: String { CLITests.root.appendingPathComponent("examples/iris.json").path }
    private var irisData: String { CLITests.root.appendingPathComponent("examples/data/iris.csv").path }

    /// Train with --save/--log/--plot; then eval, predict and resume from the checkpoint alone.
    func testACheckpointCarriesItsModelAndItsSplit() throws {
        let dir = try scratch()
        let train = try nngen(["train", iris, "--data", irisData, "--epochs", "4", "--save", "ck.safetensors",
                               "--log", "run.csv", "--plot", "run.svg"], in: dir)
        XCTAssertEqual(train.status, 0, train.stderr)
        let last = try XCTUnwrap(train.stdout.split(separator: "\n").last { $0.hasPrefix("epoch 4/4") })
        XCTAssertTrue(train.stdout.contains("  log:           run.csv (4 epochs)\n  plot:          run.svg\n"), train.stdout)
        // eval CKPT --held-out: the validation part training used, the very numbers of epoch 4.
        let held = try nngen(["eval", "ck.safetensors", "--data", irisData, "--held-out"], in: dir)
        XCTAssertEqual(held.status, 0, held.stderr)
        let fields = last.components(separatedBy: "  ")
        let valLoss = try XCTUnwrap(fields.first { $0.hasPrefix("val_loss ") }).dropFirst(9)
        let valAcc = try XCTUnwrap(fields.first { $0.hasPrefix("val_acc ") }).dropFirst(8)
        XCTAssertTrue(held.stdout.contains("(held out: the last 0.2 of the order shuffled with seed 1): 30 samples\n"), held.stdout)
        XCTAssertTrue(held.stdout.contains("loss      \(valLoss)\n"), "\(held.stdout) vs \(last)")
        XCTAssertTrue(held.stdout.contains("accuracy  \(valAcc) ("), "\(held.stdout) vs \(last)")
        // The same split given explicitly, with MODEL: the same lines.
        let explicit = try nngen(["eval", iris, "--params", "ck.safetensors", "--data", irisData, "--val-split", "0.2",
                                  "--seed", "1"], in: dir)
        XCTAssertEqual(explicit.stdout, held.stdout)
        // Without --held-out: every row.
        let all = try nngen(["eval", "ck.safetensors", "--data", irisData], in: dir)
        XCTAssertTrue(all.stdout.contains(": 150 samples\n"), all.stdout)
        // A MODEL that does not match: the checkpoint's clear message.
        let wrong = try nngen(["eval", CLITests.root.appendingPathComponent("examples/diabetes.json").path,
                               "--params", "ck.safetensors", "--data", irisData], in: dir)
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.stderr.contains("ck.safetensors was written for another model"), wrong.stderr)

        // predict CKPT --proba: softmax beside the class, summing to 1.
        let predict = try nngen(["predict", "ck.safetensors", "--data", irisData, "--proba"], in: dir)
        XCTAssertEqual(predict.status, 0, predict.stderr)
        let rows = predict.stdout.split(separator: "\n")
        XCTAssertEqual(rows.first, "logit_0,logit_1,logit_2,class,prob_0,prob_1,prob_2")
        XCTAssertEqual(rows.count, 151)
        for row in rows.dropFirst() {
            let v = row.split(separator: ",").map { Double($0)! }
            let z = Array(v[0..<3]), p = Array(v[4..<7])
            XCTAssertEqual(p.reduce(0, +), 1, accuracy: 2e-6)
            XCTAssertEqual(Int(v[3]), z.firstIndex(of: z.max()!))
            XCTAssertEqual(Int(v[3]), p.firstIndex(of: p.max()!))
            let m = z.max()!, e = z.map { exp($0 - m) }, s = e.reduce(0, +)
            for j in 0..<3 { XCTAssertEqual(p[j], e[j] / s, accuracy: 1e-6) }
        }

        // train --resume CKPT without MODEL: the checkpoint's model, continued to 6 epochs.
        let resumed = try nngen(["train", "--resume", "ck.safetensors", "--data", irisData, "--epochs", "6"], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.hasPrefix("training iris "), resumed.stdout)
        XCTAssertEqual(resumed.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }.map { $0.prefix(9) },
                       ["epoch 5/6", "epoch 6/6"])
        // ... which needs --data: a usage error saying what to add.
        let noData = try nngen(["train", "--resume", "ck.safetensors", "--epochs", "6"], in: dir)
        XCTAssertEqual(noData.status, 2)
        XCTAssertEqual(noData.stderr, "error: --data FILE is required to resume iris (the default data "
                       + "examples/data/digits.csv goes with the built-in model only): add --data FILE\n")

        // nngen plot run.csv: the very SVG train --plot drew; inspect lists the checkpoint.
        let plot = try nngen(["plot", "run.csv", "-o", "again.svg"], in: dir)
        XCTAssertEqual(plot.status, 0, plot.stderr)
        XCTAssertEqual(plot.stdout, "wrote again.svg: 1 run (4 epochs)\n")
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("again.svg")),
                       try Data(contentsOf: dir.appendingPathComponent("run.svg")))
        // Two runs compared: both names in the legends, two colours; a regression log cannot join.
        let slow = try nngen(["train", iris, "--data", irisData, "--epochs", "3", "--lr", "0.003", "--log", "slow.jsonl"], in: dir)
        XCTAssertEqual(slow.status, 0, slow.stderr)
        let both = try nngen(["plot", "run.csv", "slow.jsonl", "-o", "both.svg"], in: dir)
        XCTAssertEqual(both.stdout, "wrote both.svg: 2 runs (4, 3 epochs)\n")
        let svg = try String(contentsOf: dir.appendingPathComponent("both.svg"), encoding: .utf8)
        for text in [">run train<", ">run validation<", ">slow train<", ">slow validation<", "stroke=\"#ff7f0e\""] {
            XCTAssertTrue(svg.contains(text), text)
        }
        try "epoch,lr,train_loss,val_loss,val_r2,samples_per_s,wall_s\n1,0.1,1,1,0.5,1,1\n"
            .write(to: dir.appendingPathComponent("reg.csv"), atomically: true, encoding: .utf8)
        let mixed = try nngen(["plot", "run.csv", "reg.csv", "-o", "mixed.svg"], in: dir)
        XCTAssertEqual(mixed.status, 1)
        XCTAssertEqual(mixed.stderr, "error: reg.csv logs val_r2 but run.csv logs val_acc; a classification run and a "
                       + "regression run cannot share one plot\n")
        let inspect = try nngen(["inspect", "ck.safetensors"], in: dir)
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        for text in ["ck.safetensors: 3.46 KiB (3,540 B), 16 tensors\n", "  seed       1\n", "  val_split  0.2\n",
                     "  model      the model JSON (379 bytes), summarised below\n", "Model iris\n"] {
            XCTAssertTrue(inspect.stdout.contains(text), "missing \(text) in\n\(inspect.stdout)")
        }
        // 120 training samples in steps of 16: 7 steps per epoch, 28 after 4 epochs.
        func row(_ name: String) -> [Substring] {
            inspect.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") }?.split(separator: " ") ?? []
        }
        XCTAssertEqual(row("optimizer.step"), ["optimizer.step", "I64", "[]", "28", "28", "28", "8"])
        XCTAssertEqual(row("training.epoch"), ["training.epoch", "I64", "[]", "4", "4", "4", "8"])
    }

    /// The statistics of inspect, on a file whose values are known.
    func testInspectStatistics() throws {
        let dir = try scratch()
        // One F64 tensor [1, -2, 3.5, NaN] and one metadata entry, written byte by byte.
        var header = #"{"__metadata__":{"note":"hand made"},"a":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]}}"#
        while header.utf8.count % 8 != 0 { header += " " }
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(Data(header.utf8))
        for v in [1.0, -2.0, 3.5, Double.nan] { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try bytes.write(to: dir.appendingPathComponent("hand.safetensors"))
        let inspect = try nngen(["inspect", "hand.safetensors"], in: dir)
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertEqual(inspect.stdout, """
            hand.safetensors: 136 B, 1 tensor

            metadata:
              note  hand made

            tensors:
            name  dtype  shape   min  max                  mean  bytes
            ----------------------------------------------------------
            a     F64    [2, 2]   -2  3.5  0.833333 (1 NaN/inf)     32

            """)
        let bad = try nngen(["inspect", iris], in: dir)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("error: \(iris)"), bad.stderr)
    }

    /// grad on a CSV: the first `batch` rows, the same numbers as the same rows in a safetensors batch.
    func testGradTakesTheFirstRowsOfACSV() throws {
        let dir = try scratch()
        XCTAssertEqual(try nngen(["init", iris, "-o", "p.safetensors"], in: dir).status, 0)
        // The first 16 rows of iris.csv, and the rest cut off: the same gradients.
        let lines = try String(contentsOfFile: irisData, encoding: .utf8).split(separator: "\n")
        try (lines.prefix(17).joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("first.csv"),
                                                                    atomically: true, encoding: .utf8)
        let a = try nngen(["grad", iris, "--params", "p.safetensors", "--batch", irisData, "-o", "a.safetensors"], in: dir)
        let b = try nngen(["grad", iris, "--params", "p.safetensors", "--batch", "first.csv", "-o", "b.safetensors"], in: dir)
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout.replacingOccurrences(of: "a.safetensors", with: "b.safetensors"), b.stdout)
        XCTAssertTrue(a.stdout.hasPrefix("wrote a.safetensors: loss "), a.stdout)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("a.safetensors")),
                       try Data(contentsOf: dir.appendingPathComponent("b.safetensors")))
        try (lines.prefix(5).joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("short.csv"),
                                                                   atomically: true, encoding: .utf8)
        let short = try nngen(["grad", iris, "--params", "p.safetensors", "--batch", "short.csv", "-o", "c.safetensors"], in: dir)
        XCTAssertEqual(short.status, 1)
        XCTAssertTrue(short.stderr.contains("short.csv: 4 rows; model iris takes a batch of 16"), short.stderr)
    }

    /// Usage errors say what to add; --version; emit --dump-after without -o; --backend help.
    func testUsageAndConsistency() throws {
        let version = try nngen(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertTrue(version.stdout.hasPrefix("nngen "), version.stdout)
        let dump = try nngen(["emit", iris, "--dump-after", "lower"])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        XCTAssertFalse(dump.stdout.isEmpty)
        let noOutput = try nngen(["emit", iris])
        XCTAssertEqual(noOutput.status, 2)
        XCTAssertTrue(noOutput.stderr.contains("emit needs -o DIR"), noOutput.stderr)
        let noData = try nngen(["train", iris, "--epochs", "1"])
        XCTAssertEqual(noData.status, 2)
        XCTAssertTrue(noData.stderr.contains("--data FILE is required with a MODEL"), noData.stderr)
        XCTAssertTrue(noData.stderr.contains("add --data FILE"), noData.stderr)
        let noParams = try nngen(["eval", iris, "--data", irisData])
        XCTAssertEqual(noParams.status, 2)
        XCTAssertTrue(noParams.stderr.contains("give the parameters: a checkpoint"), noParams.stderr)
        // train --data X without MODEL, X not digits: says MODEL was omitted.
        let omitted = try nngen(["train", "--data", irisData, "--epochs", "1"])
        XCTAssertEqual(omitted.status, 1)
        XCTAssertTrue(omitted.stderr.contains("MODEL was omitted, so the built-in digits_mlp (64 inputs, 10 classes) was used"),
                      omitted.stderr)
        for command in ["train", "eval", "predict", "grad"] {
            let help = try nngen([command, "--help"])
            XCTAssertTrue(help.stdout.contains("Back end: auto (the default"), "\(command): \(help.stdout)")
            XCTAssertTrue(help.stdout.contains("(values: auto, tcc, cc; default: auto)"), "\(command): \(help.stdout)")
        }
    }

    /// Bad --log/--plot: exit 2 naming the flag; unwritable: exit 1 before any epoch; plot's errors.
    func testLogAndPlotPathsAreCheckedBeforeTraining() throws {
        let dir = try scratch()
        let txt = try nngen(["train", iris, "--data", irisData, "--log", "run.txt"], in: dir)
        XCTAssertEqual(txt.status, 2)
        XCTAssertTrue(txt.stderr.hasPrefix("Error: --log needs a file ending in .csv or .jsonl, got run.txt\n"), txt.stderr)
        let png = try nngen(["train", iris, "--data", irisData, "--plot", "run.png"], in: dir)
        XCTAssertEqual(png.status, 2)
        XCTAssertTrue(png.stderr.hasPrefix("Error: --plot needs a file ending in .svg, got run.png\n"), png.stderr)
        let missing = try nngen(["train", iris, "--data", irisData, "--plot", "no/run.svg", "--epochs", "1"], in: dir)
        XCTAssertEqual(missing.status, 1)
        XCTAssertFalse(missing.stdout.contains("epoch 1/1"), missing.stdout)
        XCTAssertTrue(missing.stderr.hasPrefix("error: \(dir.path)/no/run.svg: cannot write the file"), missing.stderr)
        let output = try nngen(["plot", "a.csv", "-o", "x.png"], in: dir)
        XCTAssertEqual(output.status, 2)
        XCTAssertTrue(output.stderr.contains("--output needs a file ending in .svg, got x.png"), output.stderr)
        let absent = try nngen(["plot", "absent.csv", "-o", "x.svg"], in: dir)
        XCTAssertEqual(absent.status, 1)
        XCTAssertTrue(absent.stderr.contains("absent.csv: cannot read the file: no such file"), absent.stderr)
    }
}
