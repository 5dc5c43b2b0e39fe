import DataIO
import Foundation
import XCTest

final class StandardizerTests: XCTestCase {
    func testKnownValuesAndConstantFeature() throws {
        // Feature 0: 1, 2, 3 -> mean 2, population std sqrt(2/3). Feature 1 is constant.
        let d = try Dataset(x: [1, 5, 2, 5, 3, 5], inputShape: [2], targets: .labels([0, 1, 0], classes: 2))
        let s = try Standardizer(fitting: d)
        XCTAssertEqual(s.mean, [2, 5])
        XCTAssertEqual(s.std[0], (2.0 / 3.0).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(s.std[1], 1)
        let z = try s.apply(to: d)
        XCTAssertEqual(z.x[0], -1 / (2.0 / 3.0).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(z.x[1], 0)
        XCTAssertEqual(z.labels, d.labels)
        XCTAssertEqual(try s.apply(toSample: [4, 6]), [2 / (2.0 / 3.0).squareRoot(), 1].map { $0 }, accuracy: 1e-15)
    }

    func testTrainingPartOfDigitsHasMeanZeroStdOne() throws {
        let digits = try Dataset.loadCSV(from: examplesData.appendingPathComponent("digits.csv"), features: 64,
                                         target: .classes(10))
        let split = try digits.split(validationFraction: 0.2, seed: 2024)
        let s = try Standardizer(fitting: split.train)
        let train = try s.apply(to: split.train)
        let n = Double(train.count)
        var constant = 0
        for j in 0..<64 {
            let column = (0..<train.count).map { train.x[$0 * 64 + j] }
            let mean = column.reduce(0, +) / n
            let std = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n).squareRoot()
            XCTAssertEqual(mean, 0, accuracy: 1e-12, "feature \(j)")
            if s.std[j] == 1 && column.allSatisfy({ $0 == 0 }) {
                constant += 1  // a pixel that is constant in the training part stays 0
            } else {
                XCTAssertEqual(std, 1, accuracy: 1e-12, "feature \(j)")
            }
        }
        XCTAssertGreaterThan(constant, 0)  // digits has always-blank corner pixels
        // The validation part uses the training statistics.
        let validation = try s.apply(to: split.validation)
        XCTAssertEqual(validation.x[10], (split.validation.x[10] - s.mean[10]) / s.std[10])
    }

    func testErrors() throws {
        let d = try Dataset(x: [1, 2, 3], inputShape: [3], targets: .values([0], outputs: 1))
        let s = try Standardizer(mean: [0, 0], std: [1, 1])
        assertDataError({ try s.apply(to: d) }, kind: .featureCountMismatch(expected: 2, found: 3),
                        contains: ["expected 2 features, found 3"])
        assertDataError({ try Standardizer(mean: [0], std: [0]) },
                        kind: .invalidArgument("std[0] is 0.0; it must be finite and positive"))
        assertDataError({ try Standardizer(mean: [0], std: [1, 2]) },
                        kind: .invalidArgument("mean and std must have the same non-zero length, got 1 and 2"))
        let empty = try d.subset([])
        assertDataError({ try Standardizer(fitting: empty) },
                        kind: .tooFewSamples(count: 0, needed: 1, purpose: "fitting a standardizer"))
    }

    func testSavedInACheckpoint() throws {
        let s = try Standardizer(mean: [1.5, -2], std: [0.25, 3])
        let file = try SafetensorsFile(tensors: s.tensors())
        XCTAssertEqual(file.names, ["standardizer.mean", "standardizer.std"])
        let decoded = try SafetensorsFile.decode(file.encoded(), source: "ckpt")
        XCTAssertEqual(try Standardizer(file: decoded, source: "ckpt"), s)
        assertDataError({ try Standardizer(file: SafetensorsFile(), source: "ckpt") },
                        kind: .missingTensor(name: "standardizer.mean", available: []))
    }
}

private func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
