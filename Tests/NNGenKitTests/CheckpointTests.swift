import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import Reference
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The checkpoint format of docs/TRAINING.md, its errors, atomic saving, and predict/eval numbers.
final class CheckpointTests: XCTestCase {
    /// Iris trained `epochs` epochs (seed 3) with `optimizer`; returns the trainer.
    private func trainedIris(epochs: Int = 1, optimizer: Optimizer? = nil, scalar: ScalarType = .f32,
                             save: URL? = nil) throws -> Trainer {
        let analysis = try trainingExampleModel("iris", optimizer: optimizer)
        let trainer = try Trainer(analysis: analysis, dataset: trainingExampleData("iris", for: analysis),
                                  options: TrainingOptions(epochs: epochs, learningRate: analysis.model.optimizer.learningRate,
                                                           seed: 3, scalar: scalar, save: save),
                                  backend: TCCBackend())
        try trainer.run()
        return trainer
    }

    func testRoundTripAndLayout() throws {
        let dir = try trainingTempDirectory(self)
        let url = dir.appendingPathComponent("ck.safetensors")
        let trainer = try trainedIris(epochs: 2, save: url)
        let file = try SafetensorsFile.read(from: url)
        XCTAssertEqual(file.names, [
            "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
            "optimizer.exp_avg.layers.0.weight", "optimizer.exp_avg.layers.0.bias",
            "optimizer.exp_avg.layers.2.weight", "optimizer.exp_avg.layers.2.bias",
            "optimizer.exp_avg_sq.layers.0.weight", "optimizer.exp_avg_sq.layers.0.bias",
            "optimizer.exp_avg_sq.layers.2.weight", "optimizer.exp_avg_sq.layers.2.bias",
            "optimizer.step", "training.epoch", "standardizer.mean", "standardizer.std",
        ])
        XCTAssertEqual(file["layers.0.weight"]?.shape, [16, 4])
        XCTAssertEqual(file["layers.0.weight"]?.dtype, .f32)
        XCTAssertEqual(file["optimizer.exp_avg_sq.layers.2.bias"]?.shape, [3])
        XCTAssertEqual(file["optimizer.step"]?.storage, .i64([14]))    // 2 epochs x 7 steps
        XCTAssertEqual(file["optimizer.step"]?.shape, [])
        XCTAssertEqual(file["training.epoch"]?.storage, .i64([2]))
        XCTAssertEqual(file["standardizer.mean"]?.dtype, .f64)
        XCTAssertEqual(file["standardizer.std"]?.shape, [4])
        XCTAssertEqual(file.metadata["format"], "nngen-checkpoint-1")
        XCTAssertEqual(file.metadata["dtype"], "f32")
        XCTAssertEqual(file.metadata["seed"], "3")
        XCTAssertEqual(file.metadata["val_split"], "0.2")
        XCTAssertEqual(file.metadata["model"], trainer.analysis.model.jsonString)

        let ck = try Checkpoint.read(from: url)
        XCTAssertEqual(ck, trainer.checkpoint)
        XCTAssertEqual(ck.parameters, trainer.compiled.parameters)
        XCTAssertEqual(ck.optimizerState, trainer.compiled.optimizerState)
        XCTAssertEqual(ck.standardizer, trainer.data.standardizer)
        XCTAssertEqual(ck.step, 14)
        // The second moment of the first weight element sits in slot 1.
        let v = try XCTUnwrap(file["optimizer.exp_avg_sq.layers.0.weight"]).asDoubles()
        XCTAssertEqual(v[0], trainer.compiled.optimizerState[trainer.analysis.parameterCount])
        // Written again, the file is the same bytes.
        let again = dir.appendingPathComponent("again.safetensors")
        try ck.write(to: again)
        XCTAssertEqual(try Data(contentsOf: again), try Data(contentsOf: url))
    }

    func testCheckpointRecordsTheLearningRateOfTheRun() throws {
        let analysis = try trainingExampleModel("iris")
        let trainer = try Trainer(analysis: analysis, dataset: trainingExampleData("iris", for: analysis),
                                  options: TrainingOptions(epochs: 1, learningRate: 0.25), backend: TCCBackend())
        try trainer.run()
        let file = try trainer.checkpoint.safetensors()
        XCTAssertEqual(file.metadata["lr"], "0.25")
        let read = try Checkpoint(file: file, source: "ck")
        XCTAssertEqual(read.model.optimizer, .adam(lr: 0.25))
        XCTAssertEqual(read.learningRate, 0.25)
        XCTAssertNoThrow(try read.checkSameModel(as: analysis.model, source: "ck"))
    }

    func testOptimizerTensorNamesPerOptimizer() throws {
        let momentum = try trainedIris(optimizer: .sgd(lr: 0.05, momentum: 0.9), scalar: .f64).checkpoint.safetensors()
        XCTAssertEqual(momentum.names.filter { $0.hasPrefix("optimizer.") },
                       ["optimizer.momentum_buffer.layers.0.weight", "optimizer.momentum_buffer.layers.0.bias",
                        "optimizer.momentum_buffer.layers.2.weight", "optimizer.momentum_buffer.layers.2.bias",
                        "optimizer.step"])
        XCTAssertEqual(momentum["layers.0.bias"]?.dtype, .f64)
        XCTAssertEqual(momentum.metadata["dtype"], "f64")
        let plain = try trainedIris(optimizer: .sgd(lr: 0.05)).checkpoint.safetensors()
        XCTAssertEqual(plain.names.filter { $0.hasPrefix("optimizer.") }, ["optimizer.step"])
    }

    func testMissingTensorWrongShapeAndNotACheckpoint() throws {
        var file = try trainedIris().checkpoint.safetensors()
        let good = file
        file.remove("optimizer.exp_avg_sq.layers.2.bias")
        XCTAssertEqual(trainingThrownError { _ = try Checkpoint(file: file, source: "ck.safetensors") } as? CheckpointError,
                       .missingTensor(file: "ck.safetensors", name: "optimizer.exp_avg_sq.layers.2.bias"))

        file = good
        try file.insert(Tensor(name: "layers.0.weight", shape: [4, 16], doubles: Array(repeating: 0, count: 64), dtype: .f32))
        let shapeError = trainingThrownError { _ = try Checkpoint(file: file, source: "ck.safetensors") }
        XCTAssertEqual(shapeError as? CheckpointError,
                       .wrongTensor(file: "ck.safetensors", name: "layers.0.weight", expected: "shape [16, 4]", found: "shape [4, 16]"))
        XCTAssertEqual("\(shapeError.map { "\($0)" } ?? "")",
                       "ck.safetensors: tensor \"layers.0.weight\" should have shape [16, 4], found shape [4, 16]")

        file = good
        try file.insert(Tensor(name: "layers.0.weight", shape: [16, 4], doubles: Array(repeating: 0, count: 64), dtype: .f64))
        XCTAssertEqual(trainingThrownError { _ = try Checkpoint(file: file, source: "c") } as? CheckpointError,
                       .wrongTensor(file: "c", name: "layers.0.weight", expected: "dtype F32", found: "dtype F64"))

        file = good
        file.metadata["format"] = "nngen-parameters-1"
        let formatError = trainingThrownError { _ = try Checkpoint(file: file, source: "p.safetensors") }
        XCTAssertEqual(formatError as? CheckpointError, .notACheckpoint(file: "p.safetensors", found: "format \"nngen-parameters-1\""))

        file = good
        file.metadata["seed"] = "-1"
        XCTAssertEqual(trainingThrownError { _ = try Checkpoint(file: file, source: "c") } as? CheckpointError,
                       .badMetadata(file: "c", key: "seed", found: "-1", expected: "an unsigned 64-bit integer"))
    }

    func testWrongModelIsRefusedButAnotherLearningRateIsNot() throws {
        let ck = try trainedIris().checkpoint
        var other = ck.model
        other.layers[0] = .dense(units: 8)
        let error = trainingThrownError { try ck.checkSameModel(as: other, source: "ck.safetensors") }
        XCTAssertEqual(error as? CheckpointError, .wrongModel(file: "ck.safetensors", differences: [
            "layers[0]: the file has {\"type\": \"dense\", \"units\": 16, \"bias\": true}, "
                + "this run has {\"type\": \"dense\", \"units\": 8, \"bias\": true}",
        ]))
        var sgd = ck.model
        sgd.optimizer = .sgd(lr: 0.01)
        sgd.standardize = false
        let sgdError = trainingThrownError { try ck.checkSameModel(as: sgd, source: "ck.safetensors") }
        guard case .wrongModel(_, let differences)? = sgdError as? CheckpointError else { return XCTFail("\(String(describing: sgdError))") }
        XCTAssertEqual(differences.map { $0.prefix(while: { $0 != ":" }) }, ["standardize", "optimizer"])
        // The learning rate may change on resume.
        var faster = ck.model
        faster.optimizer = faster.optimizer.with(learningRate: 0.5)
        XCTAssertNoThrow(try ck.checkSameModel(as: faster, source: "ck.safetensors"))
        // Prediction reads the parameters of a checkpoint only for the same architecture.
        let file = try ck.safetensors()
        let predictError = trainingThrownError { _ = try ParameterFile(file: file, source: "ck.safetensors", for: other.analyze()) }
        XCTAssertTrue("\(predictError.map { "\($0)" } ?? "")".hasPrefix("ck.safetensors was written for another model: layers[0]"))
        XCTAssertEqual(try ParameterFile(file: file, source: "ck", for: faster.analyze()).parameters, ck.parameters)
    }

    /// The save of the next checkpoint fails half-way (file size limit): the previous file is
    /// unchanged and no temporary file is left.
    func testFailingSaveLeavesThePreviousCheckpoint() throws {
        let dir = try trainingTempDirectory(self)
        let url = dir.appendingPathComponent("ck.safetensors")
        let trainer = try trainedIris(epochs: 1, save: url)
        let before = try Data(contentsOf: url)
        var next = trainer.checkpoint
        next.epoch = 99
        next.parameters = next.parameters.map { $0 + 1 }

        let oldHandler = signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved), 0)
        var limited = saved
        limited.rlim_cur = rlim_t(before.count / 2)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited), 0)
        let error = trainingThrownError { try next.write(to: url) }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved), 0)
        signal(SIGXFSZ, oldHandler)

        guard case .writeFailed? = (error as? DataError)?.kind else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try Checkpoint.read(from: url).epoch, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ck.safetensors"])
        // With the limit lifted the same save succeeds.
        try next.write(to: url)
        XCTAssertEqual(try Checkpoint.read(from: url).epoch, 99)
    }

    /// `nngen init`'s file: the reference's initial values, which the generated NAME_init draws too.
    func testInitialParametersFile() throws {
        let analysis = try trainingExampleModel("digits_conv")
        let values = ReferenceInterpreter(analysis).initialParameters(seed: 9)
        let file = try ParameterFile.initial(analysis, seed: 9, values: values, scalar: .f32)
        XCTAssertEqual(file.names, analysis.parameters.map(\.name))
        XCTAssertEqual(file["layers.0.weight"]?.shape, [32, 8, 3])
        XCTAssertEqual(file.metadata["format"], "nngen-parameters-1")
        let compiled = try CompiledModel(analysis: analysis, backend: TCCBackend(), scalar: .f32)
        compiled.initialize(seed: 9)
        let read = try ParameterFile(file: file, source: "init", for: analysis)
        XCTAssertEqual(read.parameters, compiled.parameters)
        XCTAssertEqual(read.scalar, .f32)
        XCTAssertNil(read.standardizer)
        // Not a checkpoint.
        XCTAssertEqual(trainingThrownError { _ = try Checkpoint(file: file, source: "init") } as? CheckpointError,
                       .notACheckpoint(file: "init", found: "format \"nngen-parameters-1\""))
    }

    /// Compiled prediction and the metrics against the reference interpreter (float64).
    func testPredictAndEvalAgreeWithTheReference() throws {
        for (name, epochs) in [("iris", 3), ("breast_cancer", 2), ("diabetes", 2)] {
            let analysis = try trainingExampleModel(name)
            let trainer = try Trainer(analysis: analysis, dataset: trainingExampleData(name, for: analysis),
                                      options: TrainingOptions(epochs: epochs, learningRate: analysis.model.optimizer.learningRate,
                                                               scalar: .f64),
                                      backend: TCCBackend())
            let summary = try trainer.run()
            let validation = try XCTUnwrap(trainer.data.validation)
            let params = trainer.compiled.parameters
            let compiled = try Evaluation.predict(trainer.compiled, x: validation.x, count: validation.count)
            let reference = try ReferenceInterpreter(analysis).forward(parameters: params, input: validation.x,
                                                                       batch: validation.count)
            XCTAssertEqual(compiled.count, reference.count)
            let worst = zip(compiled, reference).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThanOrEqual(worst, 1e-12, name)
            let m = Evaluation.metrics(outputs: compiled, outputsPerSample: analysis.outputCount,
                                       targets: validation.targets, loss: analysis.model.loss)
            let targets: Targets = validation.labels.map { .labels($0) } ?? .values(validation.y ?? [])
            let refLoss = try ReferenceInterpreter(analysis).loss(parameters: params, input: validation.x, targets: targets,
                                                                  batch: validation.count)
            XCTAssertEqual(m.loss, refLoss, accuracy: 1e-12 * max(1, abs(refLoss)), name)
            XCTAssertEqual(m, summary.final?.validation, name)
            print("\(name): validation loss \(m.loss) (reference \(refLoss)), max |output difference| \(worst)")
        }
    }

    /// A float32 checkpoint read back for prediction: the standardizer is applied and outputs match
    /// the reference in double on the same (float32) parameters within float32 rounding.
    func testFloat32CheckpointPredictionMatchesReference() throws {
        let dir = try trainingTempDirectory(self)
        let url = dir.appendingPathComponent("ck.safetensors")
        let trainer = try trainedIris(epochs: 3, save: url)
        let analysis = trainer.analysis
        let file = try ParameterFile.read(from: url, for: analysis)
        XCTAssertEqual(file.scalar, .f32)
        let data = try trainingExampleData("iris", for: analysis)
        let s = try XCTUnwrap(file.standardizer)
        let x = try s.apply(to: data).x
        let model = try CompiledModel(analysis: analysis, backend: TCCBackend(), scalar: file.scalar)
        model.parameters = file.parameters
        let out = try Evaluation.predict(model, x: x, count: data.count)
        let ref = try ReferenceInterpreter(analysis).forward(parameters: file.parameters, input: x, batch: data.count)
        let scale = ref.map(abs).max() ?? 1
        let worst = zip(out, ref).map { abs($0 - $1) }.max() ?? .nan
        XCTAssertLessThanOrEqual(worst / scale, 1e-5)
        let m = Evaluation.metrics(outputs: out, outputsPerSample: 3, targets: data.targets, loss: .softmaxCrossEntropy)
        XCTAssertEqual(m.count, 150)
        XCTAssertEqual(m.judged, 150)
    }

    /// The metrics on numbers worked by hand.
    func testMetricsByHand() {
        // Softmax CE: logits (0, ln 3) -> p = (1/4, 3/4); label 1 -> -ln(3/4); label 0 -> -ln(1/4); first of equal maxima wins.
        let ce = Evaluation.metrics(outputs: [0, log(3), 0, log(3), 2, 2], outputsPerSample: 2,
                                    targets: .labels([1, 0, 1], classes: 2), loss: .softmaxCrossEntropy)
        XCTAssertEqual(ce.loss, (-log(0.75) - log(0.25) + log(2)) / 3, accuracy: 1e-15)
        XCTAssertEqual(ce.correct, 1)
        XCTAssertEqual(ce.judged, 3)
        // bce: z = 0 -> ln 2; z = 1000, y = 1 -> 0 (no overflow); z = -1000, y = 1 -> 1000.
        let bce = Evaluation.metrics(outputs: [0, 1000, -1000], outputsPerSample: 1,
                                     targets: .values([0, 1, 1], outputs: 1), loss: .bceWithLogits)
        XCTAssertEqual(bce.loss, (log(2) + 0 + 1000) / 3, accuracy: 1e-12)
        XCTAssertEqual(bce.correct, 2)  // 0 -> class 0 (target 0): right; 1000 -> 1: right; -1000 -> 0: wrong
        // mse and R^2: y = (1, 2, 3), z = (1, 2, 4): MSE 1/3, SS_tot 2, R^2 = 1 - 1/2.
        let mse = Evaluation.metrics(outputs: [1, 2, 4], outputsPerSample: 1, targets: .values([1, 2, 3], outputs: 1), loss: .mse)
        XCTAssertEqual(mse.mse, 1.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(mse.r2 ?? .nan, 0.5, accuracy: 1e-15)
        XCTAssertNil(mse.accuracy)
    }
}
