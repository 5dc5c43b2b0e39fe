import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

// MARK: - Shared helpers of the training tests

/// The package root (this file is Tests/NNGenKitTests/TrainingDataTests.swift).
let trainingPackageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

/// `examples/NAME.json`, analysed, optionally with another optimizer or batch.
func trainingExampleModel(_ name: String, optimizer: Optimizer? = nil) throws -> ModelAnalysis {
    var m = try Model.load(from: trainingPackageRoot.appendingPathComponent("examples/\(name).json"))
    if let optimizer { m.optimizer = optimizer }
    return try m.analyze()
}

/// `examples/data/NAME.csv` loaded for the model.
func trainingExampleData(_ name: String, for analysis: ModelAnalysis) throws -> Dataset {
    try ModelData.load(trainingPackageRoot.appendingPathComponent("examples/data/\(name).csv"), for: analysis)
}

/// A fresh empty directory removed after the test.
func trainingTempDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-train-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// The error `body` throws, or a test failure.
func trainingThrownError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> Error? {
    do {
        try body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

// MARK: - Data loading, split, standardisation, defaults

final class TrainingDataTests: XCTestCase {
    func testDefaultModelTextIsTheExampleFile() throws {
        let file = try String(contentsOf: trainingPackageRoot.appendingPathComponent("examples/digits_mlp.json"), encoding: .utf8)
        XCTAssertEqual(TrainingDefaults.modelJSON, file)
        let model = try Model.decode(Data(TrainingDefaults.modelJSON.utf8))
        XCTAssertEqual(model.name, "digits_mlp")
    }

    func testDefaultDataIsFoundUpwardFromTheExecutableOrTheCurrentDirectory() throws {
        let root = try trainingTempDirectory(self)
        let pkg = root.appendingPathComponent("pkg")
        let data = pkg.appendingPathComponent("examples/data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data("p0,label\n1,0\n".utf8).write(to: data.appendingPathComponent("digits.csv"))
        let bin = pkg.appendingPathComponent(".build/x86_64-unknown-linux-gnu/release")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let elsewhere = root.appendingPathComponent("elsewhere/deeper")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)

        // From the executable, three levels below the package root, with an unrelated working directory.
        let fromExecutable = try TrainingDefaults.locateData(executable: bin.appendingPathComponent("nngen"),
                                                             currentDirectory: elsewhere)
        XCTAssertEqual(fromExecutable.standardizedFileURL.path, data.appendingPathComponent("digits.csv").standardizedFileURL.path)
        // From the working directory when the executable is elsewhere.
        let sub = pkg.appendingPathComponent("Sources")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let fromDirectory = try TrainingDefaults.locateData(executable: elsewhere.appendingPathComponent("nngen"),
                                                            currentDirectory: sub)
        XCTAssertEqual(fromDirectory.standardizedFileURL.path, data.appendingPathComponent("digits.csv").standardizedFileURL.path)
        // Neither: the error names both starting folders.
        let error = trainingThrownError {
            _ = try TrainingDefaults.locateData(executable: elsewhere.appendingPathComponent("nngen"), currentDirectory: elsewhere)
        }
        XCTAssertEqual(error as? TrainingError, .defaultDataNotFound(relativePath: "examples/data/digits.csv",
                                                                   searched: [elsewhere.path, elsewhere.path]))
        XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("Pass --data FILE"))
    }

    func testDataWithOtherColumnsThanTheModelNamesFileAndCounts() throws {
        let digits = try trainingExampleModel("digits_mlp")
        let file = trainingPackageRoot.appendingPathComponent("examples/data/breast_cancer.csv")
        let error = trainingThrownError { _ = try ModelData.load(file, for: digits) }
        XCTAssertEqual("\(error.map { "\($0)" } ?? "")",
                       "\(file.path): the data does not fit model digits_mlp: expected 65 columns (64 input values + "
                       + "1 label in 0...9), found 31 columns (in the header, line 1)")
        // Prediction accepts the inputs alone, but not another count.
        let predictError = trainingThrownError { _ = try ModelData.loadInputs(file, for: digits) }
        XCTAssertTrue("\(predictError.map { "\($0)" } ?? "")".contains("expected 64 columns (input values only) or 65"))
    }

    func testInputsWithAndWithoutTargets() throws {
        let iris = try trainingExampleModel("iris")
        let dir = try trainingTempDirectory(self)
        let unlabelled = dir.appendingPathComponent("u.csv")
        try Data("5.1,3.5,1.4,0.2\n6.0,2.2,5.0,1.5\n".utf8).write(to: unlabelled)
        let u = try ModelData.loadInputs(unlabelled, for: iris)
        XCTAssertEqual(u.count, 2)
        XCTAssertEqual(u.x, [5.1, 3.5, 1.4, 0.2, 6.0, 2.2, 5.0, 1.5])
        XCTAssertNil(u.targets)
        let labelled = dir.appendingPathComponent("l.csv")
        try Data("a,b,c,d,species\n5.1,3.5,1.4,0.2,0\n6.0,2.2,5.0,1.5,2\n".utf8).write(to: labelled)
        let l = try ModelData.loadInputs(labelled, for: iris)
        XCTAssertEqual(l.targets, .labels([0, 2], classes: 3))
        // A safetensors file with x only.
        let st = dir.appendingPathComponent("x.safetensors")
        try SafetensorsFile(tensors: [Tensor(name: "x", shape: [2, 4], doubles: u.x, dtype: .f32)]).write(to: st)
        let s = try ModelData.loadInputs(st, for: iris)
        XCTAssertEqual(s.count, 2)
        XCTAssertEqual(s.x, u.x.map { Double(Float($0)) })
        XCTAssertNil(s.targets)
        // Neither csv nor safetensors.
        XCTAssertEqual(trainingThrownError { _ = try ModelData.load(dir.appendingPathComponent("d.txt"), for: iris) } as? TrainingError,
                       .unknownDataFormat(file: dir.appendingPathComponent("d.txt").path))
    }

    /// docs/TRAINING.md "Data pipeline" steps 2 and 3, computed here by hand.
    func testSplitAndStandardisationFollowTheDocument() throws {
        let iris = try trainingExampleModel("iris")
        let data = try trainingExampleData("iris", for: iris)
        let prepared = try TrainingData(data: data, model: iris.model, seed: 7, validationSplit: 0.2)
        let order = SampleOrder.shuffled(count: 150, seed: 7)
        XCTAssertEqual(prepared.train.count, 120)
        XCTAssertEqual(prepared.validation?.count, 30)
        // Statistics over the training part (first 120 of the order), population std.
        let trainIdx = Array(order[..<120])
        let f = 4
        for j in 0..<f {
            let col = trainIdx.map { data.x[$0 * f + j] }
            let mean = col.reduce(0, +) / 120
            let std = (col.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 120).squareRoot()
            XCTAssertEqual(prepared.standardizer?.mean[j] ?? .nan, mean, accuracy: 1e-12)
            XCTAssertEqual(prepared.standardizer?.std[j] ?? .nan, std, accuracy: 1e-12)
            // The first validation sample is the 121st of the order.
            let v = data.x[order[120] * f + j]
            XCTAssertEqual(prepared.validation?.x[j] ?? .nan, (v - mean) / std, accuracy: 1e-12)
        }
        XCTAssertEqual(prepared.train.labels?.first, data.labels?[order[0]])
        // Split 0: no validation part.
        XCTAssertNil(try TrainingData(data: data, model: iris.model, seed: 7, validationSplit: 0).validation)
    }

    func testTooFewTrainingSamplesForOneBatchIsAnError() throws {
        let iris = try trainingExampleModel("iris")
        let data = try trainingExampleData("iris", for: iris)
        let error = trainingThrownError {
            _ = try Trainer(analysis: iris, dataset: data,
                            options: TrainingOptions(epochs: 1, learningRate: 0.01, validationSplit: 0.95),
                            backend: TCCBackend())
        }
        XCTAssertEqual(error as? TrainingError, .noFullBatch(trainingSamples: 7, batch: 16, validationSplit: 0.95))
        XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("fewer than one batch of 16"))
    }

    func testEpochLineFormat() {
        let withAccuracy = EpochReport(epoch: 3, epochs: 20, trainLoss: 0.1234564, validation:
            EvaluationMetrics(count: 360, loss: 0.2345674, correct: 346, judged: 360), samplesPerSecond: 1234.4, steps: 44)
        XCTAssertEqual(withAccuracy.line, "epoch 3/20  train_loss 0.123456  val_loss 0.234567  val_acc 96.11%  1234 samples/s")
        let regression = EpochReport(epoch: 1, epochs: 2, trainLoss: 2, validation: EvaluationMetrics(count: 3, loss: 1.5),
                                     samplesPerSecond: 10, steps: 1)
        XCTAssertEqual(regression.line, "epoch 1/2  train_loss 2.000000  val_loss 1.500000  10 samples/s")
        let noValidation = EpochReport(epoch: 1, epochs: 1, trainLoss: 0.5, validation: nil, samplesPerSecond: 99.5, steps: 1)
        XCTAssertEqual(noValidation.line, "epoch 1/1  train_loss 0.500000  100 samples/s")
    }
}
