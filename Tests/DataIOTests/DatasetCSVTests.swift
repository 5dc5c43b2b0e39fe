import DataIO
import Foundation
import XCTest

final class DatasetCSVTests: XCTestCase {
    private func load(_ text: String, features: Int, target: TargetKind) throws -> Dataset {
        try Dataset(csv: csv(text), features: features, target: target)
    }

    func testClassificationValues() throws {
        let d = try load("f1,f2,label\n1,2,0\n3, 4.5 ,2\n-1,0,1.0\n", features: 2, target: .classes(3))
        XCTAssertEqual(d.count, 3)
        XCTAssertEqual(d.features, 2)
        XCTAssertEqual(d.outputs, 3)
        XCTAssertEqual(d.inputShape, [2])
        XCTAssertEqual(d.x, [1, 2, 3, 4.5, -1, 0])
        XCTAssertEqual(d.labels, [0, 2, 1])
        XCTAssertNil(d.y)
        XCTAssertEqual(d.targetKind, .classes(3))
        XCTAssertEqual(Array(d.input(1)), [3, 4.5])
    }

    func testRegressionWithSeveralOutputs() throws {
        let d = try load("1,2,3,4\n5,6,7,8\n", features: 2, target: .values(2))
        XCTAssertEqual(d.x, [1, 2, 5, 6])
        XCTAssertEqual(d.y, [3, 4, 7, 8])
        XCTAssertNil(d.labels)
        XCTAssertEqual(d.outputs, 2)
    }

    func testFieldNotANumber() {
        assertDataError({ try self.load("a,b,y\n1,2,0\n1,x,1\n", features: 2, target: .classes(2)) },
                        kind: .notANumber(field: "x"), line: 3, column: 2,
                        contains: ["t.csv, line 3, column 2: \"x\" is not a number"])
        assertDataError({ try self.load("1,2,0\n1,,0\n", features: 2, target: .classes(2)) },
                        kind: .notANumber(field: ""), line: 2, column: 2, contains: ["empty field; expected a number"])
        assertDataError({ try self.load("1,2,abc\n3,4,1\n5,6,x\n", features: 2, target: .values(1)) },
                        kind: .notANumber(field: "x"), line: 3, column: 3)
    }

    func testWrongFieldCount() {
        assertDataError({ try self.load("a,b,y\n1,2,0\n1,2\n", features: 2, target: .classes(2)) },
                        kind: .fieldCount(expected: 3, found: 2, layout: "2 features + 1 label"), line: 3,
                        contains: ["t.csv, line 3: expected 3 fields (2 features + 1 label), found 2"])
        assertDataError({ try self.load("a,b,c,y\n1,2,3,0\n", features: 2, target: .classes(2)) },
                        kind: .fieldCount(expected: 3, found: 4, layout: "2 features + 1 label"), line: 1)
        assertDataError({ try self.load("1,2,3,4,5\n", features: 2, target: .values(2)) },
                        kind: .fieldCount(expected: 4, found: 5, layout: "2 features + 2 target values"), line: 1)
    }

    func testNaNAndInfinity() {
        assertDataError({ try self.load("a,b,y\n1,nan,0\n", features: 2, target: .classes(2)) },
                        kind: .nonFinite(field: "nan"), line: 2, column: 2,
                        contains: ["line 2, column 2: \"nan\" is NaN or infinite"])
        assertDataError({ try self.load("1,2,0\n3,4,-inf\n", features: 2, target: .values(1)) },
                        kind: .nonFinite(field: "-inf"), line: 2, column: 3)
        assertDataError({ try self.load("1e999,2,0\n", features: 2, target: .values(1)) },
                        kind: .nonFinite(field: "1e999"), line: 1, column: 1)
    }

    func testLabelNotIntegerOrOutOfRange() {
        assertDataError({ try self.load("a,b,y\n1,2,2.5\n", features: 2, target: .classes(3)) },
                        kind: .labelNotInteger(field: "2.5", classes: 3), line: 2, column: 3,
                        contains: ["line 2, column 3: label \"2.5\" is not an integer; labels must be integers in 0...2"])
        assertDataError({ try self.load("a,b,y\n1,2,0\n1,2,3\n", features: 2, target: .classes(3)) },
                        kind: .labelOutOfRange(label: 3, classes: 3), line: 3, column: 3,
                        contains: ["label 3 is out of range; valid labels are 0...2 (3 classes)"])
        assertDataError({ try self.load("1,2,-1\n", features: 2, target: .classes(3)) },
                        kind: .labelOutOfRange(label: -1, classes: 3), line: 1, column: 3)
        assertDataError({ try self.load("1,2,0\n1,2,x\n", features: 2, target: .classes(3)) },
                        kind: .notANumber(field: "x"), line: 2, column: 3)
    }

    func testEmptyFileAndNoDataRows() {
        assertDataError({ try self.load("", features: 2, target: .classes(2)) }, kind: .emptyFile)
        assertDataError({ try self.load("a,b,y\n\n", features: 2, target: .classes(2)) }, kind: .noDataRows,
                        contains: ["t.csv: the file has no data rows; its only row was taken as a header"])
        // A lone row with a non-number is a header, so the file has no data.
        assertDataError({ try self.load("1,2,x\n", features: 2, target: .classes(2)) }, kind: .noDataRows)
    }

    func testInvalidArguments() {
        assertDataError({ try self.load("1,2\n", features: 0, target: .values(1)) },
                        kind: .invalidArgument("the number of features must be at least 1, got 0"))
        assertDataError({ try self.load("1,2\n", features: 1, target: .classes(0)) },
                        kind: .invalidArgument("the number of classes must be at least 1, got 0"))
    }

    // MARK: The bundled data sets.

    func testDigits() throws {
        let d = try Dataset.loadCSV(from: examplesData.appendingPathComponent("digits.csv"), features: 64, target: .classes(10))
        XCTAssertEqual(d.count, 1797)
        XCTAssertEqual(d.features, 64)
        XCTAssertEqual(Set(d.labels ?? []), Set(0...9))
        XCTAssertEqual(Array(d.input(0).prefix(8)), [0, 0, 5, 13, 9, 1, 0, 0])
        XCTAssertEqual(d.labels?.prefix(3), [0, 1, 2])
        XCTAssertEqual(d.x.min(), 0)
        XCTAssertEqual(d.x.max(), 16)
        let seq = try d.withInputShape([8, 8])
        XCTAssertEqual(seq.inputShape, [8, 8])
        XCTAssertEqual(seq.features, 64)
        XCTAssertEqual(seq.x, d.x)
        assertDataError({ try d.withInputShape([8, 7]) },
                        kind: .invalidArgument("input shape [8, 7] does not hold the 64 features of each sample"))
    }

    func testIris() throws {
        let d = try Dataset.loadCSV(from: examplesData.appendingPathComponent("iris.csv"), features: 4, target: .classes(3))
        XCTAssertEqual(d.count, 150)
        XCTAssertEqual(d.features, 4)
        XCTAssertEqual(Array(d.input(0)), [5.1, 3.5, 1.4, 0.2])
        let labels = d.labels ?? []
        XCTAssertEqual((0..<3).map { c in labels.filter { $0 == c }.count }, [50, 50, 50])
    }

    func testBreastCancerAndDiabetes() throws {
        let bc = try Dataset.loadCSV(from: examplesData.appendingPathComponent("breast_cancer.csv"), features: 30,
                                     target: .values(1))
        XCTAssertEqual(bc.count, 569)
        XCTAssertEqual(Set(bc.y ?? []), [0, 1])
        XCTAssertEqual(bc.x.first, 17.99)
        let db = try Dataset.loadCSV(from: examplesData.appendingPathComponent("diabetes.csv"), features: 10,
                                     target: .values(1))
        XCTAssertEqual(db.count, 442)
        XCTAssertEqual(db.y?.first, 151)
        XCTAssertEqual(Array(db.input(0)), [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87])
        XCTAssertEqual(db.y?.min(), 25)
        XCTAssertEqual(db.y?.max(), 346)
    }

    func testWrongFeatureCountOnRealFileNamesLineOne() {
        let url = examplesData.appendingPathComponent("iris.csv")
        let error = expectError { try Dataset.loadCSV(from: url, features: 3, target: .classes(3)) }
        XCTAssertEqual(error?.kind, .fieldCount(expected: 4, found: 5, layout: "3 features + 1 label"))
        XCTAssertEqual(error?.description.hasPrefix(url.path + ", line 1: expected 4 fields"), true)
    }
}
