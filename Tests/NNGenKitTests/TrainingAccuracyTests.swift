import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Real training runs on the bundled data sets with the example models and their own
/// hyper-parameters (default seed 1, validation split 0.2, float32, the cc back end for speed).
final class TrainingAccuracyTests: XCTestCase {
    private func train(_ model: String, data: String, epochs: Int) throws -> (Trainer, TrainingSummary) {
        let analysis = try trainingExampleModel(model)
        let dataset = try trainingExampleData(data, for: analysis)
        let trainer = try Trainer(analysis: analysis, dataset: dataset,
                                  options: TrainingOptions(epochs: epochs, learningRate: analysis.model.optimizer.learningRate),
                                  backend: CCBackend())
        let summary = try trainer.run()
        for r in summary.reports { print("\(model): \(r.line)") }
        return (trainer, summary)
    }

    private func finalAccuracy(_ s: TrainingSummary) throws -> Double {
        try XCTUnwrap(s.final?.validation?.accuracy)
    }

    func testDigitsMLPReaches95PercentValidationAccuracy() throws {
        let (_, s) = try train("digits_mlp", data: "digits", epochs: 8)
        let acc = try finalAccuracy(s)
        print(String(format: "digits_mlp: validation accuracy %.2f%% after 8 epochs (target >= 95%%)", acc * 100))
        XCTAssertGreaterThanOrEqual(acc, 0.95)
        XCTAssertEqual(s.final?.validation?.count, 359)
    }

    func testDigitsConvReaches95PercentValidationAccuracy() throws {
        let (_, s) = try train("digits_conv", data: "digits", epochs: 6)
        let acc = try finalAccuracy(s)
        print(String(format: "digits_conv: validation accuracy %.2f%% after 6 epochs (target >= 95%%)", acc * 100))
        XCTAssertGreaterThanOrEqual(acc, 0.95)
    }

    func testBreastCancerReaches95PercentValidationAccuracy() throws {
        let (_, s) = try train("breast_cancer", data: "breast_cancer", epochs: 20)
        let acc = try finalAccuracy(s)
        print(String(format: "breast_cancer: validation accuracy %.2f%% after 20 epochs (target >= 95%%)", acc * 100))
        XCTAssertGreaterThanOrEqual(acc, 0.95)
        XCTAssertEqual(s.final?.validation?.judged, 114)
    }

    /// Validation MSE well below that of predicting the validation targets' own mean (their variance).
    func testDiabetesRegressionBeatsPredictingTheMean() throws {
        let (trainer, s) = try train("diabetes", data: "diabetes", epochs: 30)
        let validation = try XCTUnwrap(trainer.data.validation)
        let y = try XCTUnwrap(validation.y)
        let mean = y.reduce(0, +) / Double(y.count)
        let variance = y.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(y.count)
        let mse = try XCTUnwrap(s.final?.validation?.mse)
        print(String(format: "diabetes: validation MSE %.1f, variance of the validation targets %.1f, ratio %.3f (target <= 0.7)",
                     mse, variance, mse / variance))
        XCTAssertLessThanOrEqual(mse, 0.7 * variance)
        // R^2 is 1 - MSE / variance for one output.
        XCTAssertEqual(try XCTUnwrap(s.final?.validation?.r2), 1 - mse / variance, accuracy: 1e-9)
    }
}
