import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Resuming from a checkpoint, and stopping on divergence.
final class TrainingResumeTests: XCTestCase {
    private func options(_ epochs: Int, lr: Double, save: URL? = nil, scalar: ScalarType = .f32) -> TrainingOptions {
        TrainingOptions(epochs: epochs, learningRate: lr, seed: 5, validationSplit: 0.2, scalar: scalar, save: save)
    }

    /// 2N epochs straight and N epochs + resume for N more give the same parameters, optimizer
    /// state and step bit for bit, and the same epoch lines (samples/s aside).
    private func checkResumeIsExact(_ analysis: ModelAnalysis, data: String, n: Int, scalar: ScalarType) throws {
        let dataset = try trainingExampleData(data, for: analysis)
        let lr = analysis.model.optimizer.learningRate
        let dir = try trainingTempDirectory(self)
        let ck = dir.appendingPathComponent("ck.safetensors")

        let straight = try Trainer(analysis: analysis, dataset: dataset, options: options(2 * n, lr: lr, scalar: scalar),
                                   backend: TCCBackend())
        let straightSummary = try straight.run()

        let first = try Trainer(analysis: analysis, dataset: dataset, options: options(n, lr: lr, save: ck, scalar: scalar),
                                backend: TCCBackend())
        try first.run()
        let checkpoint = try Checkpoint.read(from: ck)
        XCTAssertEqual(checkpoint.epoch, n)
        try checkpoint.checkSameModel(as: analysis.model, source: ck.path)
        let second = try Trainer(analysis: analysis, dataset: dataset, options: options(2 * n, lr: lr, save: ck, scalar: scalar),
                                 backend: TCCBackend(), resume: checkpoint, resumeFile: ck)
        let secondSummary = try second.run()

        XCTAssertEqual(secondSummary.reports.map(\.epoch), Array((n + 1)...(2 * n)))
        XCTAssertEqual(second.compiled.step, straight.compiled.step)
        XCTAssertEqual(second.compiled.step, Int64(2 * n * (straight.data.train.count / analysis.model.batch)))
        let a = straight.compiled.parameters, b = second.compiled.parameters
        XCTAssertEqual(a.count, b.count)
        XCTAssertTrue(zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }, "parameters differ after resume")
        XCTAssertTrue(zip(straight.compiled.optimizerState, second.compiled.optimizerState).allSatisfy { $0.bitPattern == $1.bitPattern })
        func withoutSpeed(_ r: EpochReport) -> String { r.line.components(separatedBy: "  ").dropLast().joined(separator: "  ") }
        XCTAssertEqual(straightSummary.reports.suffix(n).map(withoutSpeed), secondSummary.reports.map(withoutSpeed))
        // The checkpoint saved by the resumed run matches the straight run's state too.
        let end = try Checkpoint.read(from: ck)
        XCTAssertEqual(end.epoch, 2 * n)
        XCTAssertEqual(end.parameters, straight.compiled.parameters)
    }

    func testResumeIsBitExactWithAdam() throws {
        try checkResumeIsExact(try trainingExampleModel("iris"), data: "iris", n: 3, scalar: .f32)
    }

    func testResumeIsBitExactWithSGDMomentumInFloat64() throws {
        let analysis = try trainingExampleModel("iris", optimizer: .sgd(lr: 0.05, momentum: 0.9, nesterov: true))
        try checkResumeIsExact(analysis, data: "iris", n: 2, scalar: .f64)
    }

    func testDigitsMLPResumeIsBitExact() throws {
        try checkResumeIsExact(try trainingExampleModel("digits_mlp"), data: "digits", n: 1, scalar: .f32)
    }

    /// A huge learning rate after two good epochs: the error names epoch 3 and the step, the
    /// checkpoint of epoch 2 stays on disk byte for byte and still loads.
    func testDivergenceStopsAndKeepsTheLastGoodCheckpoint() throws {
        let analysis = try trainingExampleModel("iris", optimizer: .sgd(lr: 0.1))
        let dataset = try trainingExampleData("iris", for: analysis)
        let dir = try trainingTempDirectory(self)
        let ck = dir.appendingPathComponent("ck.safetensors")
        try Trainer(analysis: analysis, dataset: dataset, options: options(2, lr: 0.1, save: ck), backend: TCCBackend()).run()
        let before = try Data(contentsOf: ck)

        let resumed = try Trainer(analysis: analysis, dataset: dataset, options: options(10, lr: 1e6, save: ck),
                                  backend: TCCBackend(), resume: Checkpoint.read(from: ck), resumeFile: ck)
        var lines: [String] = []
        let error = trainingThrownError { try resumed.run(onEpoch: { lines.append($0.line) }) }
        guard case .diverged(let epoch, let step, let steps, let loss, let lr, let file, let fileEpoch, _)? = error as? TrainingError else {
            return XCTFail("expected a divergence, got \(String(describing: error))")
        }
        XCTAssertEqual(epoch, 3)
        XCTAssertTrue((1...steps).contains(step))
        XCTAssertEqual(steps, 7)
        XCTAssertFalse(loss.isFinite)
        XCTAssertEqual(lr, 1e6)
        XCTAssertEqual(file, ck.path)
        XCTAssertEqual(fileEpoch, 2)
        XCTAssertEqual(lines, [])
        let message = "\(error.map { "\($0)" } ?? "")"
        XCTAssertTrue(message.hasPrefix("training diverged at epoch 3, step \(step) of 7: the loss is "), message)
        XCTAssertTrue(message.contains("The last good checkpoint \(ck.path) (epoch 2) is kept unchanged"), message)
        XCTAssertTrue(message.contains("Try a learning rate 10x lower: --lr 100000"), message)

        XCTAssertEqual(try Data(contentsOf: ck), before)
        let loaded = try Checkpoint.read(from: ck)
        XCTAssertEqual(loaded.epoch, 2)
        XCTAssertTrue(loaded.parameters.allSatisfy(\.isFinite))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ck.safetensors"])
    }

    func testResumeWithAnotherDtypeIsRefused() throws {
        let analysis = try trainingExampleModel("iris")
        let dataset = try trainingExampleData("iris", for: analysis)
        let first = try Trainer(analysis: analysis, dataset: dataset, options: options(1, lr: 0.01), backend: TCCBackend())
        try first.run()
        let error = trainingThrownError {
            _ = try Trainer(analysis: analysis, dataset: dataset, options: options(2, lr: 0.01, scalar: .f64),
                            backend: TCCBackend(), resume: first.checkpoint, resumeFile: URL(fileURLWithPath: "/x/ck.safetensors"))
        }
        XCTAssertEqual("\(error.map { "\($0)" } ?? "")",
                       "/x/ck.safetensors: the checkpoint was trained with dtype f32, this run asks for f64; "
                       + "a resumed run keeps the checkpoint's dtype (leave the option out)")
    }

    func testDivergenceWithoutCheckpointSaysSo() throws {
        let analysis = try trainingExampleModel("iris", optimizer: .sgd(lr: 0.1))
        let dataset = try trainingExampleData("iris", for: analysis)
        let trainer = try Trainer(analysis: analysis, dataset: dataset, options: options(3, lr: 1e30), backend: TCCBackend())
        let error = trainingThrownError { try trainer.run() }
        let message = "\(error.map { "\($0)" } ?? "")"
        XCTAssertTrue(message.hasPrefix("training diverged at epoch 1, step "), message)
        XCTAssertTrue(message.contains("No checkpoint was saved by this run. Try a learning rate 10x lower: --lr 1e+29"), message)
    }
}
