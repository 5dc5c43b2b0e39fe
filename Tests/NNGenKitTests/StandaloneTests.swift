import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// The standalone program `nngen emit` writes (train.c, Makefile, README.md): built with make and
/// gcc under -Wall -Wextra -Werror -pedantic, run on the bundled data, its lines, checkpoints,
/// resume, errors and exit codes checked, and its losses compared with the Swift trainer.
final class StandaloneTests: XCTestCase {
    // MARK: building and training

    func testDigitsMLPTrainsSavesAndResumes() throws {
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        let run = try Self.train(build, "digits.csv", ["--epochs", "3", "--save", "ck.safetensors"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = try Self.epochLines(run.stdout)
        XCTAssertEqual(lines.map(\.epoch), ["1/3", "2/3", "3/3"])
        XCTAssertLessThan(lines[2].trainLoss, lines[0].trainLoss * 0.5, "the train loss falls")
        XCTAssertTrue(lines.allSatisfy { $0.valAcc != nil && $0.valLoss != nil }, run.stdout)
        XCTAssertGreaterThan(lines[2].valAcc ?? 0, 90, "digits reach over 90% in 3 epochs")

        // The checkpoint, read back by DataIO.
        let url = dir.appendingPathComponent("ck.safetensors")
        let file = try SafetensorsFile.read(from: url)
        let analysis = build.analysis
        for p in analysis.parameters {
            for name in [p.name, "optimizer.exp_avg.\(p.name)", "optimizer.exp_avg_sq.\(p.name)"] {
                let t = try XCTUnwrap(file[name], "missing \(name)")
                XCTAssertEqual(t.shape, p.shape, name)
                XCTAssertEqual(t.dtype, .f32, name)
            }
        }
        // 1797 samples, 359 for validation, 1438 for training: 44 steps per epoch.
        XCTAssertEqual(try file["optimizer.step"]?.asInts(), [3 * 44])
        XCTAssertEqual(file["optimizer.step"]?.shape, [])
        XCTAssertEqual(try file["training.epoch"]?.asInts(), [3])
        XCTAssertEqual(file["standardizer.mean"]?.shape, [64])
        XCTAssertEqual(file["standardizer.std"]?.dtype, .f64)
        XCTAssertEqual(file.metadata["format"], "nngen-checkpoint-1")
        XCTAssertEqual(file.metadata["model"], analysis.model.jsonString)
        XCTAssertEqual(file.metadata["dtype"], "f32")
        XCTAssertEqual(file.metadata["seed"], "1")
        XCTAssertEqual(file.metadata["val_split"], "0.2")
        // nngen's own checkpoint reader accepts it.
        let checkpoint = try Checkpoint.read(from: url)
        XCTAssertEqual(checkpoint.epoch, 3)
        XCTAssertEqual(checkpoint.parameters.count, analysis.parameterCount)

        // --resume continues at epoch 4 and lands bit for bit where 4 epochs straight do.
        let resumed = try Self.train(build, "digits.csv", ["--epochs", "4", "--resume", "ck.safetensors",
                                                           "--save", "ck.safetensors"], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Self.epochLines(resumed.stdout).map(\.epoch), ["4/4"])
        let straight = try Self.train(build, "digits.csv", ["--epochs", "4", "--save", "four.safetensors"], in: dir)
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertEqual(try Self.epochLines(straight.stdout).last?.fields, try Self.epochLines(resumed.stdout).last?.fields)
        XCTAssertEqual(try Data(contentsOf: url), try Data(contentsOf: dir.appendingPathComponent("four.safetensors")))
        // Nothing left to do: exit 0 without an epoch line. Another seed: refused.
        let done = try Self.train(build, "digits.csv", ["--epochs", "4", "--resume", "ck.safetensors"], in: dir)
        XCTAssertEqual(done.status, 0)
        XCTAssertTrue(done.stdout.contains("already holds 4 epochs"), done.stdout)
        let seed = try Self.train(build, "digits.csv", ["--epochs", "6", "--resume", "ck.safetensors", "--seed", "2"], in: dir)
        XCTAssertEqual(seed.status, 1)
        XCTAssertTrue(seed.stderr.contains("trained with seed 1, this run asks for 2"), seed.stderr)
        // Atomic saves leave no temporary file behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    func testBreastCancerLogisticF64() throws {
        let build = try Self.build("breast_cancer", .f64)
        let dir = try makeScratchDirectory()
        let run = try Self.train(build, "breast_cancer.csv", ["--epochs", "3", "--save", "ck.safetensors"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = try Self.epochLines(run.stdout)
        XCTAssertEqual(lines.count, 3)
        XCTAssertLessThan(lines[2].trainLoss, lines[0].trainLoss)
        XCTAssertNotNil(lines[2].valAcc, "bce_with_logits prints an accuracy")
        let file = try SafetensorsFile.read(from: dir.appendingPathComponent("ck.safetensors"))
        XCTAssertEqual(file["layers.0.weight"]?.dtype, .f64)
        XCTAssertEqual(file["layers.0.weight"]?.shape, [16, 30])
        XCTAssertEqual(file.metadata["dtype"], "f64")
        XCTAssertEqual(file.metadata["model"], build.analysis.model.jsonString)
        // 569 samples, 114 for validation, 455 for training: 14 steps of 32.
        XCTAssertEqual(try file["optimizer.step"]?.asInts(), [3 * 14])
    }

    func testDiabetesRegressionPrintsNoAccuracy() throws {
        let build = try Self.build("diabetes", .f32)
        let run = try Self.train(build, "diabetes.csv", ["--epochs", "3", "--val-split", "0.25"], in: try makeScratchDirectory())
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = try Self.epochLines(run.stdout)
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines.allSatisfy { $0.valAcc == nil && $0.valLoss != nil }, run.stdout)
        XCTAssertLessThan(lines[2].trainLoss, lines[0].trainLoss)
        // Without validation the val_* fields are absent.
        let all = try Self.train(build, "diabetes.csv", ["--epochs", "1", "--val-split", "0"], in: try makeScratchDirectory())
        XCTAssertEqual(try Self.epochLines(all.stdout).map(\.fields.count), [2])
    }

    /// The same seed, data and dtype give the same printed losses (and the same checkpoint bytes)
    /// as nngen's Swift trainer running the same C through the cc back end.
    func testSameLossesAndCheckpointAsSwiftTrainerWithCC() throws {
        for (name, data, scalar) in [("digits_mlp", "digits.csv", ScalarType.f32), ("breast_cancer", "breast_cancer.csv", .f64),
                                     ("diabetes_huber", "diabetes.csv", .f32)] {
            try assertTrainersAgree(name, data, scalar)
        }
    }

    /// A model with frozen layers: the same losses and checkpoint bytes in both trainers (no
    /// optimizer state for the frozen parameters); with --init from a file of PyTorch names, too.
    func testFrozenModelAndInitAgreeWithSwiftTrainer() throws {
        try assertTrainersAgree("digits_mlp_finetune", "digits.csv", .f32)
        let build = try Self.build("digits_mlp_finetune", .f32)
        let dir = try makeScratchDirectory()
        // Pretrained values (0.1 sin i), under PyTorch nn.Sequential names.
        let a = build.analysis
        let values = (0..<a.parameterCount).map { 0.1 * sin(Double($0)) }
        let torch = try SafetensorsFile(tensors: a.parameters.map {
            try Tensor(name: String($0.name.dropFirst("layers.".count)), shape: $0.shape,
                       doubles: Array(values[$0.offset..<($0.offset + $0.count)]), dtype: .f64)
        })
        let file = dir.appendingPathComponent("torch.safetensors")
        try torch.write(to: file)
        let run = try Self.train(build, "digits.csv", ["--epochs", "2", "--init", file.path, "--save", "c.safetensors"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("initial parameters: 6 tensors from \(file.path)"), run.stderr)
        let dataset = try ModelData.load(Self.dataURL("digits.csv"), for: a)
        let swiftCheckpoint = dir.appendingPathComponent("swift.safetensors")
        let options = TrainingOptions(epochs: 2, learningRate: a.model.optimizer.learningRate, seed: 1, validationSplit: 0.2,
                                      scalar: .f32, save: swiftCheckpoint)
        let trainer = try Trainer(analysis: a, dataset: dataset, options: options, backend: CCBackend())
        try trainer.compiled.loadInitialParameters(from: file, partial: false)
        let summary = try trainer.run()
        XCTAssertEqual(try Self.epochLines(run.stdout).map(\.fields),
                       try Self.epochLines(summary.reports.map(\.line).joined(separator: "\n")).map(\.fields))
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("c.safetensors")), try Data(contentsOf: swiftCheckpoint))
        // A misshapen tensor: the same listing as nngen's, exit 1.
        let bad = try SafetensorsFile(tensors: [try Tensor(name: "0.bias", shape: [3], doubles: [1, 2, 3], dtype: .f32)])
        try bad.write(to: dir.appendingPathComponent("bad.safetensors"))
        let failed = try Self.train(build, "digits.csv", ["--init", "bad.safetensors", "--init-partial"], in: dir)
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(failed.stderr.contains("bad.safetensors cannot give this model's parameters:\n"
                                             + "  \"0.bias\" has shape [3], layers.0.bias needs [128]\n"), failed.stderr)
    }

    /// A column of +-1e300 standardises without overflow, and both trainers agree on it.
    func testHugeColumnStandardisesTheSameInBothTrainers() throws {
        let dir = try makeScratchDirectory()
        var lines = try String(contentsOf: Self.dataURL("diabetes.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        for i in 1..<lines.count {
            var fields = lines[i].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            fields[0] = (i % 2 == 0 ? "" : "-") + "1e300"
            lines[i] = fields.joined(separator: ",")
        }
        let csv = dir.appendingPathComponent("huge.csv")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: csv)
        try assertTrainersAgree("diabetes", csv.path, .f64)
    }

    func assertTrainersAgree(_ name: String, _ data: String, _ scalar: ScalarType) throws {
        let build = try Self.build(name, scalar)
        let dir = try makeScratchDirectory()
        let run = try Self.train(build, data, ["--epochs", "3", "--save", "c.safetensors"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertFalse(run.stdout.contains("nan") || run.stdout.contains("inf"), run.stdout)

        let url = data.contains("/") ? URL(fileURLWithPath: data) : Self.dataURL(data)
        let dataset = try ModelData.load(url, for: build.analysis)
        let swiftCheckpoint = dir.appendingPathComponent("swift.safetensors")
        let options = TrainingOptions(epochs: 3, learningRate: build.analysis.model.optimizer.learningRate,
                                      seed: 1, validationSplit: 0.2, scalar: scalar, save: swiftCheckpoint)
        let trainer = try Trainer(analysis: build.analysis, dataset: dataset, options: options, backend: CCBackend())
        let summary = try trainer.run()
        let swiftLines = try Self.epochLines(summary.reports.map(\.line).joined(separator: "\n"))
        // Every field but samples/s: epoch, train_loss, val_loss, val_acc.
        XCTAssertEqual(try Self.epochLines(run.stdout).map(\.fields), swiftLines.map(\.fields), name)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("c.safetensors")),
                       try Data(contentsOf: swiftCheckpoint), "\(name): checkpoint bytes")
    }

    /// `make THREADS=2` builds ./train with OpenMP: run with --threads 2, it prints the same epoch
    /// lines and saves the same checkpoint bytes as the program built without threads and as
    /// nngen's trainer with the cc back end on 2 threads (`nngen train --threads 2`); digits_conv
    /// shares its conv products, weight-gradient strips and elementwise loops among the threads.
    func testThreadsBuildGivesTheSameLinesAndCheckpoint() throws {
        for name in ["digits_conv", "digits_mlp"] {
            let one = try Self.build(name, .f32), two = try Self.build(name, .f32, threads: 2)
            let dir = try makeScratchDirectory()
            let serial = try Self.train(one, "digits.csv", ["--epochs", "2", "--save", "one.safetensors"], in: dir)
            let threaded = try Self.train(two, "digits.csv", ["--epochs", "2", "--threads", "2", "--save", "two.safetensors"], in: dir)
            XCTAssertEqual(serial.status, 0, serial.stderr)
            XCTAssertEqual(threaded.status, 0, threaded.stderr)
            XCTAssertEqual(try Self.epochLines(threaded.stdout).map(\.fields), try Self.epochLines(serial.stdout).map(\.fields), name)
            XCTAssertEqual(try Self.epochLines(threaded.stdout).count, 2, threaded.stdout)
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("two.safetensors")),
                           try Data(contentsOf: dir.appendingPathComponent("one.safetensors")), "\(name): checkpoint bytes")
            // The threaded program was built for 2 threads: --threads 1 is a usage error (exit 2).
            let wrong = try Self.train(two, "digits.csv", ["--epochs", "1", "--threads", "1"], in: dir)
            XCTAssertEqual(wrong.status, 2, wrong.stderr)
            XCTAssertTrue(wrong.stderr.contains("--threads 1: this program was built for 2 threads; build it again with make clean && make"),
                          wrong.stderr)

            let dataset = try ModelData.load(Self.dataURL("digits.csv"), for: two.analysis)
            let swiftCheckpoint = dir.appendingPathComponent("swift.safetensors")
            let options = TrainingOptions(epochs: 2, learningRate: two.analysis.model.optimizer.learningRate,
                                          seed: 1, validationSplit: 0.2, scalar: .f32, save: swiftCheckpoint)
            let trainer = try Trainer(analysis: two.analysis, dataset: dataset, options: options,
                                      backend: try benchBackend("cc", threads: 2))
            let summary = try trainer.run()
            XCTAssertEqual(try Self.epochLines(summary.reports.map(\.line).joined(separator: "\n")).map(\.fields),
                           try Self.epochLines(threaded.stdout).map(\.fields), name)
            XCTAssertEqual(try Data(contentsOf: swiftCheckpoint), try Data(contentsOf: dir.appendingPathComponent("two.safetensors")),
                           "\(name): nngen's checkpoint bytes")
        }
    }

    /// A safetensors batch file with the same samples trains exactly like the CSV.
    func testSafetensorsDataGivesTheSameLinesAsCSV() throws {
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        let dataset = try Dataset.loadCSV(from: Self.dataURL("digits.csv"), features: 64, target: .classes(10))
        try dataset.batchFile(xDType: .f32, labelDType: .i32).write(to: dir.appendingPathComponent("digits.safetensors"))
        let fromCSV = try Self.train(build, "digits.csv", ["--epochs", "2"], in: dir)
        let fromST = try Self.train(build, dir.appendingPathComponent("digits.safetensors").path, ["--epochs", "2"], in: dir)
        XCTAssertEqual(fromST.status, 0, fromST.stderr)
        XCTAssertEqual(try Self.epochLines(fromST.stdout).map(\.fields), try Self.epochLines(fromCSV.stdout).map(\.fields))
    }

    // MARK: errors

    /// Bad CSV files: exit 1 and the very message nngen's DataIO gives (file, line, column).
    func testBadCSVGivesDataIOsMessageWithLineAndColumn() throws {
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        let rows = try String(contentsOf: Self.dataURL("digits.csv"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).prefix(8).map(String.init)
        func with(_ row: Int, _ text: String) -> String {
            var r = rows
            r[row] = text
            return r.joined(separator: "\n") + "\n"
        }
        func with(_ row: Int, field: Int, _ value: String) -> String {
            var fields = rows[row].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            fields[field] = value
            return with(row, fields.joined(separator: ","))
        }
        let cases: [(String, String, String)] = [
            ("text.csv", with(3, field: 1, "abc"), "line 4, column 2: \"abc\" is not a number"),
            ("count.csv", with(2, String(rows[2].dropLast(2))), "line 3: expected 65 fields (64 features + 1 label), found 64"),
            ("range.csv", with(5, field: 64, "12"), "line 6, column 65: label 12 is out of range"),
            ("fraction.csv", with(5, field: 64, "2.5"), "line 6, column 65: label \"2.5\" is not an integer"),
            ("nan.csv", with(1, field: 0, "-inf"), "line 2, column 1: \"-inf\" is NaN or infinite"),
            ("blank.csv", with(3, " "), "line 4: blank line"),
            ("quote.csv", with(4, field: 0, "\"1\" x"), "line 5, column 1: unexpected text after the closing quote"),
            ("empty.csv", with(2, field: 0, ""), "line 3, column 1: empty field; expected a number"),
            ("header.csv", "a,b,c\n1,2,3\n", "line 1: expected 65 fields (64 features + 1 label), found 3"),
            ("nodata.csv", rows[0] + "\n", "the file has no data rows"),
            ("nothing.csv", "\n \n", "the file is empty"),
        ]
        for (name, text, expected) in cases {
            let url = dir.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            let run = try Self.train(build, url.path, ["--epochs", "1"], in: dir)
            XCTAssertEqual(run.status, 1, name)
            XCTAssertEqual(run.stdout, "", name)
            do {
                _ = try Dataset.loadCSV(from: url, features: 64, target: .classes(10))
                XCTFail("DataIO accepts \(name)")
            } catch {
                XCTAssertEqual(run.stderr, "error: \(error.description)\n", name)
            }
            XCTAssertTrue(run.stderr.contains("\(url.path), \(expected)") || run.stderr.contains("\(url.path): \(expected)"),
                          "\(name): \(run.stderr)")
        }
    }

    /// Seeded random edits of a CSV (quotes, commas, newlines, spaces, a BOM, bytes that are not
    /// UTF-8, nan, huge numbers): the C reader reaches DataIO's verdict with DataIO's message.
    func testEditedCSVsGetTheSameVerdictAsDataIO() throws {
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        let base = Array(try String(contentsOf: Self.dataURL("digits.csv"), encoding: .utf8)
            .split(separator: "\n").prefix(60).joined(separator: "\n").utf8) + [0x0A]
        let tokens: [[UInt8]] = ["\"", ",", "\n", "\r", " ", "\t", "é", "e", ".", "-", "nan", "\u{FEFF}", "\"\"", "1e999",
                                 String(repeating: "9", count: 400), "x"].map { Array($0.utf8) } + [[0xFF], [0xC3]]
        var rng = Xoshiro256StarStar(seed: 2024)
        var accepted = 0
        for i in 0..<40 {
            var bytes = base
            if i % 4 == 0 {
                // Edits that keep the file valid: spaces and tabs around separators, CRLF, blank lines at the end.
                let separators = bytes.indices.filter { bytes[$0] == 0x2C || bytes[$0] == 0x0A }
                for _ in 0..<3 {
                    let at = separators[Int(rng.nextBelow(UInt64(separators.count)))]
                    bytes.insert(contentsOf: bytes[at] == 0x0A ? [0x0D] : (rng.nextBelow(2) == 0 ? [0x20] : [0x09]), at: at)
                }
                bytes += [0x0A, 0x20, 0x0A]
            } else {
                for _ in 0..<(1 + Int(rng.nextBelow(4))) {
                    let at = Int(rng.nextBelow(UInt64(bytes.count + 1)))
                    let token = tokens[Int(rng.nextBelow(UInt64(tokens.count)))]
                    if rng.nextBelow(2) == 0, at < bytes.count { bytes.replaceSubrange(at...at, with: token) }
                    else { bytes.insert(contentsOf: token, at: at) }
                }
            }
            let url = dir.appendingPathComponent("edit\(i).csv")
            try Data(bytes).write(to: url)
            let run = try Self.train(build, url.path, ["--epochs", "1", "--val-split", "0.1"], in: dir)
            do {
                _ = try Dataset.loadCSV(from: url, features: 64, target: .classes(10))
                accepted += 1
                XCTAssertEqual(run.status, 0, "edit\(i): DataIO accepts it; the program says \(run.stderr)")
            } catch {
                XCTAssertEqual(run.status, 1, "edit\(i)")
                XCTAssertEqual(run.stderr, "error: \(error.description)\n", "edit\(i)")
            }
        }
        XCTAssertGreaterThan(accepted, 0, "some edits keep the file valid")
        XCTAssertLessThan(accepted, 40, "most edits break it")
    }

    func testBadArgumentsGiveUsageAndExit2() throws {
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        for args in [["--epochs", "0"], ["--lr", "-1"], ["--val-split", "1"], ["--seed", "x"], ["--bogus", "1"],
                     ["--epochs"], ["more.csv"]] {
            let run = try Self.train(build, "digits.csv", args, in: dir)
            XCTAssertEqual(run.status, 2, "\(args)")
            XCTAssertTrue(run.stderr.contains("usage: "), "\(args): \(run.stderr)")
            XCTAssertEqual(run.stdout, "", "\(args)")
        }
        let none = try Self.run(build.dir.appendingPathComponent("train").path, [], in: dir)
        XCTAssertEqual(none.status, 2)
        XCTAssertTrue(none.stderr.contains("a data file is required"), none.stderr)
        let unknown = try Self.train(build, dir.appendingPathComponent("data.txt").path, [], in: dir)
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("unknown data format"), unknown.stderr)
    }

    /// A NaN loss stops training with exit 1, names the epoch and step, keeps the previous
    /// checkpoint byte for byte and suggests a learning rate 10x lower.
    func testDivergenceStopsAndKeepsTheLastGoodCheckpoint() throws {
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        let first = try Self.train(build, "digits.csv", ["--epochs", "1", "--save", "ck.safetensors"], in: dir)
        XCTAssertEqual(first.status, 0, first.stderr)
        let before = try Data(contentsOf: dir.appendingPathComponent("ck.safetensors"))
        let run = try Self.train(build, "digits.csv", ["--epochs", "3", "--resume", "ck.safetensors",
                                                       "--save", "ck.safetensors", "--lr", "1e30"], in: dir)
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(try Self.epochLines(run.stdout).count, 0)
        XCTAssertTrue(run.stderr.contains("error: training diverged at epoch 2, step "), run.stderr)
        XCTAssertTrue(run.stderr.contains("The last good checkpoint ck.safetensors (epoch 1) is kept unchanged"), run.stderr)
        XCTAssertTrue(run.stderr.contains("--lr 1.0000000000000001e+29"), run.stderr)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("ck.safetensors")), before)
    }

    /// Malformed safetensors (as data or as a checkpoint) are rejected with DataIO's message.
    func testMalformedSafetensorsAreRejectedWithAClearMessage() throws {
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        func le(_ n: UInt64) -> Data { withUnsafeBytes(of: n.littleEndian) { Data($0) } }
        let header = Data(#"{"x":{"dtype":"F32","shape":[1,64],"data_offsets":[0,256]}"#.utf8)
        let badDType = Data(#"{"x":{"dtype":"Q8","shape":[],"data_offsets":[0,0]}}"#.utf8)
        let cases: [(String, Data)] = [
            ("short.safetensors", Data([1, 2, 3])),
            ("beyond.safetensors", le(1000) + Data("{}".utf8)),
            ("json.safetensors", le(UInt64(header.count)) + header),
            ("dtype.safetensors", le(UInt64(badDType.count)) + badDType),
            ("deep.safetensors", le(200) + Data(String(repeating: "[", count: 200).utf8)),
            ("utf8.safetensors", le(4) + Data([0x22, 0xFF, 0x22, 0x20])),
        ]
        for (name, bytes) in cases {
            let url = dir.appendingPathComponent(name)
            try bytes.write(to: url)
            var expected = ""
            do {
                _ = try SafetensorsFile.read(from: url)
                XCTFail("DataIO accepts \(name)")
            } catch {
                expected = "error: \(error.description)\n"
            }
            let asData = try Self.train(build, url.path, ["--epochs", "1"], in: dir)
            XCTAssertEqual(asData.status, 1, name)
            XCTAssertEqual(asData.stderr, expected, name)
            let asCheckpoint = try Self.train(build, "digits.csv", ["--epochs", "2", "--resume", url.path], in: dir)
            XCTAssertEqual(asCheckpoint.status, 1, name)
            XCTAssertEqual(asCheckpoint.stderr, expected, name)
        }
        // A well-formed file that is not a checkpoint.
        let plain = dir.appendingPathComponent("plain.safetensors")
        try SafetensorsFile(tensors: [Tensor(name: "a", shape: [1], doubles: [1])]).write(to: plain)
        let run = try Self.train(build, "digits.csv", ["--epochs", "2", "--resume", plain.path], in: dir)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("not an nngen checkpoint"), run.stderr)
        // A checkpoint of another model.
        let other = try Self.build("breast_cancer", .f32)
        _ = try Self.train(other, "breast_cancer.csv", ["--epochs", "1", "--save", "bc.safetensors"], in: dir)
        let wrong = try Self.train(build, "digits.csv", ["--epochs", "2", "--resume", "bc.safetensors"], in: dir)
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.stderr.contains("bc.safetensors: was written for another model"), wrong.stderr)
    }

    /// A save that fails (here: the checkpoint path is a directory) exits 1, says the earlier file
    /// is unchanged, and leaves no temporary file.
    func testFailedSaveLeavesNothingBehind() throws {
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        let blocked = dir.appendingPathComponent("ck.safetensors")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("inside"), withIntermediateDirectories: true)
        let run = try Self.train(build, "digits.csv", ["--epochs", "1", "--save", "ck.safetensors"], in: dir)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("error: ck.safetensors: cannot write the file (any earlier file there is unchanged)"),
                      run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ck.safetensors"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: blocked.path), ["inside"])
        let missing = try Self.train(build, "digits.csv", ["--epochs", "1", "--save", "no/such/dir/ck.safetensors"], in: dir)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("cannot write a temporary file in no/such/dir"), missing.stderr)
    }

    // MARK: the generated text

    func testFilesAndAModelNamedTrain() throws {
        var model = try Model.load(from: Self.root.appendingPathComponent("examples/iris.json"))
        model.name = "train"
        let analysis = try model.analyze()
        let files = Standalone.files(for: compile(analysis, options: CompileOptions(scalar: .f32)))
        XCTAssertEqual(files.map(\.name), ["train.h", "train.c", "train_main.c"] + Standalone.runtimeTemplateNames
                       + ["Makefile", "README.md"])
        XCTAssertEqual(Array(files.map(\.name)[3...5]), ["nn_runtime.h", "nn_runtime.c", "nn_rt_internal.h"])
        let dir = try makeScratchDirectory()
        for f in files { try Data(f.contents.utf8).write(to: dir.appendingPathComponent(f.name)) }
        let make = try Self.run("/usr/bin/env", ["make", "CC=\(Self.compiler)", "CFLAGS=-O1 \(Self.strict)"], in: dir)
        XCTAssertEqual(make.status, 0, make.stderr)
        let run = try Self.run(dir.appendingPathComponent("train").path, [Self.dataURL("iris.csv").path, "--epochs", "2"],
                               in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try Self.epochLines(run.stdout).count, 2)
        // The README documents the flags and the data layout.
        let readme = try XCTUnwrap(files.last?.contents)
        for part in ["--val-split", "--resume", "label (an integer in 0...2", "optimizer.exp_avg.NAME", "make"] {
            XCTAssertTrue(readme.contains(part), part)
        }
        // The README lists every runtime file, and the Makefile compiles each C file on its own.
        let makefile = try XCTUnwrap(files.first { $0.name == "Makefile" }?.contents)
        for name in Standalone.runtimeTemplateNames {
            XCTAssertTrue(readme.contains("| `\(name)` |"), "README.md does not list \(name)")
            if name.hasSuffix(".c") {
                XCTAssertTrue(makefile.contains("$(CC) $(CFLAGS) $(OPENMP) -std=c99 -c -o $@ \(name)\n"), "Makefile: \(name)")
            }
        }
    }

    /// The tcc compiler builds the program too (the project's generated C must build with tcc).
    func testBuildsWithTCC() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tcc") else { throw XCTSkip("tcc is not installed") }
        let build = try Self.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        for f in ["digits_mlp.h", "digits_mlp.c", "train.c", "Makefile"] + Standalone.runtimeTemplateNames {
            try FileManager.default.copyItem(at: build.dir.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let make = try Self.run("/usr/bin/env", ["make", "CC=tcc", "CFLAGS=-Wall"], in: dir)
        XCTAssertEqual(make.status, 0, make.stderr)
        XCTAssertEqual(make.stderr, "")
        let run = try Self.run(dir.appendingPathComponent("train").path, [Self.dataURL("digits.csv").path, "--epochs", "1"],
                               in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try Self.epochLines(run.stdout).count, 1)
    }

    /// Text that breaks naive quoting (quotes, backslashes, trigraphs, newlines, a placeholder,
    /// bytes outside ASCII, more than 4095 bytes) comes back byte for byte from a C program
    /// compiled with -std=c99 -pedantic -Wall -Wextra -Werror.
    func testCStringLiteralsReproduceAnyText() throws {
        let nasty = "a\"b\\c??/d??=e??'\n\t{{NAME}} {{{ */ /* %s %n \u{01}\u{7F} é ∑ 😀\r\n\\\"\\0 \"\\x41\" \\u0000"
        let long = String(repeating: "0123456789\"?\\", count: 400)
        let texts = [nasty, long, "", "{", "{{", "??", try Model.load(from: Self.root.appendingPathComponent(
            "examples/digits_conv.json")).jsonString]
        XCTAssertFalse(Standalone.cStringLiteral(nasty).contains("{{"))
        XCTAssertFalse(Standalone.cStringLiteral(nasty).contains("??"))
        var program = "#include <stdio.h>\n#include <string.h>\n"
        for (i, text) in texts.enumerated() {
            program += "static const char *const t\(i)[] = {\n"
                + Standalone.cStringPieces(text).map { "    \($0),\n" }.joined() + "    NULL\n};\n"
        }
        program += "int main(void) {\n    size_t i;\n"
        for i in texts.indices {
            program += "    for (i = 0; t\(i)[i]; i++) fwrite(t\(i)[i], 1, strlen(t\(i)[i]), stdout);\n    putchar(0);\n"
        }
        program += "    return 0;\n}\n"
        let dir = try makeScratchDirectory()
        try Data(program.utf8).write(to: dir.appendingPathComponent("strings.c"))
        let cc = try Self.run("/usr/bin/env", [Self.compiler, "-std=c99", "-Wtrigraphs"] + Self.strict.split(separator: " ").map(String.init)
                              + ["-o", "strings", "strings.c"], in: dir)
        XCTAssertEqual(cc.status, 0, cc.stderr)
        XCTAssertEqual(cc.stderr, "")
        let run = try Self.run(dir.appendingPathComponent("strings").path, [], in: dir, binary: true)
        let expected = texts.reduce(Data()) { $0 + Data($1.utf8) + Data([0]) }
        XCTAssertEqual(run.bytes, expected)
        // The model JSON is embedded through the escaper, never raw.
        let build = try Self.build("digits_mlp", .f32)
        let trainC = try String(contentsOf: build.dir.appendingPathComponent("train.c"), encoding: .utf8)
        XCTAssertFalse(trainC.contains(build.analysis.model.jsonString))
        XCTAssertTrue(trainC.contains(#""  \"name\": \"digits_mlp\",\n","#), "one JSON line per literal")
        XCTAssertTrue(trainC.contains("#define digits_mlp_STANDARDIZE 1"))
    }

    // MARK: support

    /// One emitted and built program.
    struct Build {
        let dir: URL
        let analysis: ModelAnalysis
    }

    nonisolated(unsafe) private static var builds: [String: Build] = [:]
    private static let buildLock = NSLock()

    override class func tearDown() {
        buildLock.lock()
        for b in builds.values { try? FileManager.default.removeItem(at: b.dir) }
        builds = [:]
        buildLock.unlock()
        super.tearDown()
    }

    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func dataURL(_ name: String) -> URL { root.appendingPathComponent("examples/data/\(name)") }

    /// gcc when installed (the strict flags are gcc's), else cc.
    static var compiler: String { FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") ? "gcc" : "cc" }
    static let strict = "-Wall -Wextra -Werror -pedantic"

    /// Emits `examples/NAME.json` with the Swift API and runs `make` with the strict flags; once per
    /// model and dtype for the whole test class. Fails on any compiler output.
    static func build(_ name: String, _ scalar: ScalarType, threads: Int? = nil) throws -> Build {
        buildLock.lock()
        defer { buildLock.unlock() }
        let key = "\(name)-\(scalar.rawValue)" + (threads.map { "-threads\($0)" } ?? "")
        if let b = builds[key] { return b }
        let analysis = try Model.load(from: root.appendingPathComponent("examples/\(name).json")).analyze()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("StandaloneTests-\(key)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for file in Standalone.files(for: compile(analysis, options: CompileOptions(scalar: scalar))) {
            try Data(file.contents.utf8).write(to: dir.appendingPathComponent(file.name))
        }
        let make = try run("/usr/bin/env", ["make", "CC=\(compiler)", "CFLAGS=-O2 -march=native \(strict)"]
                               + (threads.map { ["THREADS=\($0)"] } ?? []), in: dir)
        XCTAssertEqual(make.status, 0, "make for \(key): \(make.stderr)")
        XCTAssertEqual(make.stderr, "", "no warnings for \(key)")
        XCTAssertTrue(make.stdout.contains("-std=c99") && make.stdout.contains("-lm"), make.stdout)
        XCTAssertEqual(make.stdout.contains("-fopenmp -DNN_THREADS="), threads != nil, make.stdout)
        guard make.status == 0 else { throw XCTSkip("make failed for \(key)") }
        let b = Build(dir: dir, analysis: analysis)
        builds[key] = b
        return b
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var bytes: Data
    }

    /// Runs `./train DATA args` in `dir`; a data name without a slash is a bundled data set.
    static func train(_ build: Build, _ data: String, _ args: [String], in dir: URL) throws -> Run {
        let path = data.contains("/") ? data : dataURL(data).path
        return try run(build.dir.appendingPathComponent("train").path, [path] + args, in: dir)
    }

    /// Runs a program with its output captured through files (no pipe can fill up).
    static func run(_ executable: String, _ args: [String], in dir: URL, binary: Bool = false) throws -> Run {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.currentDirectoryURL = dir
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        let o = try Data(contentsOf: out), e = try Data(contentsOf: err)
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                   stderr: String(decoding: e, as: UTF8.self), bytes: o)
    }

    /// One parsed `epoch e/N  train_loss X  [val_loss Y  [val_acc Z%]]  S samples/s` line.
    struct EpochLine {
        var epoch: String
        var trainLoss: Double
        var valLoss: Double?
        var valAcc: Double?
        /// Every field as printed, samples/s left out (it is a timing).
        var fields: [String]
    }

    /// Every epoch line of `text`; a line starting with `epoch ` in another format fails.
    static func epochLines(_ text: String) throws -> [EpochLine] {
        let pattern = try NSRegularExpression(pattern:
            #"^epoch (\d+/\d+)  train_loss (\d+\.\d{6})(?:  val_loss (\d+\.\d{6})(?:  val_acc (\d+\.\d{2})%)?)?  \d+ samples/s$"#)
        var out: [EpochLine] = []
        for line in text.split(separator: "\n").map(String.init) where line.hasPrefix("epoch ") {
            let ns = line as NSString
            guard let m = pattern.firstMatch(in: line, range: NSRange(location: 0, length: ns.length)) else {
                XCTFail("not an epoch line: \(line)")
                continue
            }
            func group(_ i: Int) -> String? {
                m.range(at: i).location == NSNotFound ? nil : ns.substring(with: m.range(at: i))
            }
            let fields = (1...4).compactMap(group)
            out.append(EpochLine(epoch: group(1) ?? "", trainLoss: Double(group(2) ?? "") ?? .nan,
                                 valLoss: group(3).flatMap(Double.init), valAcc: group(4).flatMap(Double.init),
                                 fields: fields))
        }
        return out
    }

    /// A fresh empty directory, removed when the test ends.
    func makeScratchDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("StandaloneTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
