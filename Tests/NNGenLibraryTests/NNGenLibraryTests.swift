import Foundation
import NNGen
import XCTest

/// The repository root, found from this file.
private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The iris model of examples/iris.json, written with the DSL.
private let irisDSL = Model("iris", input: .features(4), batch: 16, loss: .softmaxCrossEntropy,
                            optimizer: .adam(lr: 0.01), standardize: true) {
    Dense(16); ReLU(); Dense(3)
}

final class NNGenLibraryTests: XCTestCase {
    /// The DSL model and the JSON file are the same model and give the same C, file by file.
    func testDSLModelEqualsJSONModelAndEmitsTheSameC() throws {
        let json = try Model.load(from: root.appendingPathComponent("examples/iris.json"))
        XCTAssertEqual(irisDSL, json)
        for dtype in [ScalarType.f32, .f64] {
            let a = try irisDSL.cFiles(dtype: dtype), b = try json.cFiles(dtype: dtype)
            XCTAssertEqual(a.map(\.name), b.map(\.name))
            XCTAssertEqual(a.map(\.contents), b.map(\.contents))
            XCTAssertTrue(a.contains { $0.name == "iris.c" && $0.contents.contains("iris_train_step") })
        }
    }

    /// emitC writes the files cFiles returns, and what `nngen emit` lists.
    func testEmitCWritesTheStandaloneFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-lib-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let written = try irisDSL.emitC(to: dir)
        let names = Set(written.map(\.lastPathComponent))
        XCTAssertTrue(names.isSuperset(of: ["iris.h", "iris.c", "train.c", "Makefile", "README.md"]), "\(names)")
        for file in try irisDSL.cFiles() {
            XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent(file.name), encoding: .utf8), file.contents)
        }
    }

    /// Training with the library gives the parameters the command's code path gives (the
    /// NNGenKit Trainer with the CLI's defaults), two fits equal one, and a checkpoint round-trips.
    func testFitMatchesTheCommandsTrainerAndContinues() throws {
        let csv = root.appendingPathComponent("examples/data/iris.csv").path
        let data = try ModelDataset(csv: csv, for: irisDSL)
        XCTAssertEqual(data.count, 150)

        let trainer = try ModelTrainer(irisDSL)
        var lines: [String] = []
        let history = try trainer.fit(data, epochs: 3) { lines.append($0.line) }
        XCTAssertEqual(history.reports.count, 3)
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(trainer.epochsCompleted, 3)

        // What `nngen train iris.json --data iris.csv --epochs 3` runs.
        let analysis = try irisDSL.analyze()
        let options = try TrainingOptions.resolving(epochs: 3, learningRate: nil, seed: nil, validationSplit: nil, scalar: nil,
                                                    save: nil, model: irisDSL, resuming: nil, checkpointFile: "")
        let cli = try Trainer(analysis: analysis, dataset: try ModelData.load(URL(fileURLWithPath: csv), for: analysis),
                              options: options, backend: TCCBackend())
        let cliSummary = try cli.run()
        XCTAssertEqual(trainer.parameters, cli.compiled.parameters)
        XCTAssertEqual(history.reports.map(\.trainLoss), cliSummary.reports.map(\.trainLoss))

        // 3 + 2 epochs in two calls equal 5 in one.
        try trainer.fit(data, epochs: 2)
        let five = try ModelTrainer(irisDSL)
        try five.fit(data, epochs: 5)
        XCTAssertEqual(trainer.parameters, five.parameters)

        // save / init(checkpoint:) / predict.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-lib-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        try trainer.save(file.path)
        let loaded = try ModelTrainer(checkpoint: file.path)
        XCTAssertEqual(loaded.parameters, trainer.parameters)
        XCTAssertEqual(loaded.epochsCompleted, 5)
        let rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        XCTAssertEqual(try loaded.predict(rows), try trainer.predict(rows))
        XCTAssertEqual(try trainer.predict(rows).map(\.count), [3, 3])
        XCTAssertEqual(try trainer.classify(rows), [0, 2])
        XCTAssertEqual(try trainer.evaluate(data).count, 150)
    }

    /// The same typed errors as the command line.
    func testErrors() throws {
        let trainer = try ModelTrainer(irisDSL)
        XCTAssertThrowsError(try trainer.predict([[1, 2, 3]])) { XCTAssertTrue($0 is NNGenError) }
        let csv = root.appendingPathComponent("examples/data/diabetes.csv").path
        XCTAssertThrowsError(try ModelDataset(csv: csv, for: irisDSL)) { error in
            guard case TrainingError.dataDoesNotFitModel = error else { return XCTFail("\(error)") }
        }
        let iris = try ModelDataset(csv: root.appendingPathComponent("examples/data/iris.csv").path, for: irisDSL)
        XCTAssertThrowsError(try trainer.fit(iris, epochs: 0)) { error in
            guard case TrainingError.invalidOption = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ModelTrainer(irisDSL, validationSplit: 1))
    }

    /// The gradient check through the library passes for the iris model.
    func testCheckGradients() throws {
        let report = try irisDSL.checkGradients(backend: .tcc, dtype: .f64)
        XCTAssertTrue(report.passed, "\(report.rows.filter { !$0.passed }.map(\.name))")
        XCTAssertEqual(report.scalar, .f64)
    }
}
