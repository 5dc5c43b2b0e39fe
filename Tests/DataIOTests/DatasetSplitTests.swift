import DataIO
import Foundation
import XCTest

final class DatasetSplitTests: XCTestCase {
    /// The expected orders were computed once by an independent Python transcription of the
    /// documented algorithm (splitmix64 seeding, xoshiro256**, Fisher-Yates from the last index).
    func testShuffleIsAStablePermutation() {
        XCTAssertEqual(SampleOrder.shuffled(count: 10, seed: 42), [7, 3, 8, 9, 5, 6, 4, 1, 0, 2])
        let order150 = SampleOrder.shuffled(count: 150, seed: 7)
        XCTAssertEqual(Array(order150.prefix(10)), [5, 117, 35, 149, 46, 65, 70, 131, 41, 33])
        XCTAssertEqual(order150.sorted(), Array(0..<150))
        let order1797 = SampleOrder.shuffled(count: 1797, seed: 2024)
        XCTAssertEqual(Array(order1797.prefix(8)), [663, 489, 1330, 218, 590, 1368, 798, 1595])
        XCTAssertEqual(order1797.sorted(), Array(0..<1797))
        XCTAssertEqual(SampleOrder.shuffled(count: 1797, seed: 2024), order1797)
        XCTAssertNotEqual(SampleOrder.shuffled(count: 1797, seed: 2025), order1797)
        XCTAssertEqual(SampleOrder.shuffled(count: 0, seed: 1), [])
        XCTAssertEqual(SampleOrder.shuffled(count: 1, seed: 1), [0])
    }

    func testValidationCountRule() throws {
        XCTAssertEqual(try SampleOrder.validationCount(count: 150, fraction: 0.2), 30)
        XCTAssertEqual(try SampleOrder.validationCount(count: 1797, fraction: 0.2), 359)  // 359.4
        XCTAssertEqual(try SampleOrder.validationCount(count: 5, fraction: 0.5), 3)        // 2.5 rounds up
        XCTAssertEqual(try SampleOrder.validationCount(count: 10, fraction: 0.01), 1)      // at least 1
        XCTAssertEqual(try SampleOrder.validationCount(count: 2, fraction: 0.9), 1)        // at most count - 1
        XCTAssertEqual(try SampleOrder.validationCount(count: 7, fraction: 0), 0)
        XCTAssertEqual(try SampleOrder.validationCount(count: 0, fraction: 0), 0)
        assertDataError({ try SampleOrder.validationCount(count: 1, fraction: 0.2) },
                        kind: .tooFewSamples(count: 1, needed: 2, purpose: "a validation split"),
                        contains: ["a validation split needs at least 2 samples, the data set has 1"])
        for bad in [1.0, -0.1, .nan, .infinity] {
            let error = expectError { try SampleOrder.validationCount(count: 10, fraction: bad) }
            XCTAssertEqual(error?.kind, .invalidArgument("the validation fraction must be at least 0 and below 1, got \(bad)"))
        }
    }

    func testSplitOfIris() throws {
        let iris = try Dataset.loadCSV(from: examplesData.appendingPathComponent("iris.csv"), features: 4, target: .classes(3))
        let split = try iris.split(validationFraction: 0.2, seed: 7)
        XCTAssertEqual(split.train.count, 120)
        XCTAssertEqual(split.validation.count, 30)
        let order = SampleOrder.shuffled(count: 150, seed: 7)
        XCTAssertEqual(split.trainIndices, Array(order.prefix(120)))
        XCTAssertEqual(split.validationIndices, Array(order.suffix(30)))
        XCTAssertEqual(split.train, try iris.subset(split.trainIndices))
        XCTAssertEqual(split.validation, try iris.subset(split.validationIndices))
        XCTAssertEqual(Array(split.train.input(0)), Array(iris.input(5)))  // order starts with sample 5
        XCTAssertEqual(split.train.labels?.first, iris.labels?[5])
        XCTAssertEqual(try iris.shuffled(seed: 7), try iris.subset(order))
    }

    func testSplitWithoutShuffleAndWithoutValidation() throws {
        let d = try Dataset(x: (0..<10).map(Double.init), inputShape: [1], targets: .values((0..<10).map(Double.init), outputs: 1))
        let plain = try d.split(validationFraction: 0.3, seed: nil)
        XCTAssertEqual(plain.trainIndices, Array(0..<7))
        XCTAssertEqual(plain.validationIndices, [7, 8, 9])
        XCTAssertEqual(plain.validation.y, [7, 8, 9])
        let none = try d.split(validationFraction: 0, seed: 42)
        XCTAssertEqual(none.validation.count, 0)
        XCTAssertEqual(none.trainIndices, [7, 3, 8, 9, 5, 6, 4, 1, 0, 2])
        XCTAssertEqual(none.train.x, [7, 3, 8, 9, 5, 6, 4, 1, 0, 2])
    }

    func testSubsetRejectsBadIndex() throws {
        let d = try Dataset(x: [1, 2], inputShape: [1], targets: .labels([0, 1], classes: 2))
        assertDataError({ try d.subset([0, 2]) }, kind: .invalidArgument("sample index 2 is outside 0..<2"))
    }
}
