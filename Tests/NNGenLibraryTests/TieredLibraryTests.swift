import Foundation
import NNGen
import XCTest

/// `ModelTrainer(model, backend: .auto)`: tcc at once, the cc build once it is ready, the same numbers.
final class TieredLibraryTests: XCTestCase {
    private let iris = Model("iris", input: .features(4), batch: 16, loss: .softmaxCrossEntropy,
                             optimizer: .adam(lr: 0.01), standardize: true) {
        Dense(16); ReLU(); Dense(3)
    }

    /// Fits one epoch at a time until a fit reports the switch to cc; the parameters, the
    /// checkpoint's optimizer state and step, and the predictions then equal a tcc trainer's
    /// after as many epochs.
    func testAutoSwitchesToCCAndMatchesTCC() throws {
        let csv = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/data/iris.csv").path
        let data = try ModelDataset(csv: csv, for: iris)
        let auto = try ModelTrainer(iris, backend: .auto)
        XCTAssertEqual(auto.backend, .auto)
        var outcomes: [TieringOutcome] = []
        let deadline = Date().addingTimeInterval(120)
        while !outcomes.contains(where: { if case .switched = $0 { return true } else { return false } }) {
            guard Date() < deadline else { return XCTFail("no switch to cc within 120 s: \(outcomes.suffix(3))") }
            if let t = try auto.fit(data, epochs: 1).tiering { outcomes.append(t) }
            if case .ccFailed? = outcomes.last { return XCTFail("the cc build failed") }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let switchEpoch = outcomes.count
        XCTAssertEqual(outcomes.dropLast().filter { $0 != .tccThroughout }, [])
        try auto.fit(data, epochs: 2)
        let epochs = switchEpoch + 2
        XCTAssertEqual(auto.epochsCompleted, epochs)
        let tcc = try ModelTrainer(iris, backend: .tcc)
        let summary = try tcc.fit(data, epochs: epochs)
        XCTAssertNil(summary.tiering)
        XCTAssertEqual(auto.parameters.map(\.bitPattern), tcc.parameters.map(\.bitPattern))
        XCTAssertEqual(auto.checkpoint.optimizerState.map(\.bitPattern), tcc.checkpoint.optimizerState.map(\.bitPattern))
        XCTAssertEqual(auto.checkpoint.step, tcc.checkpoint.step)
        let rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        XCTAssertEqual(try auto.predict(rows), try tcc.predict(rows))
    }
}
