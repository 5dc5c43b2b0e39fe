import DataIO
import Foundation
import XCTest

final class DatasetSafetensorsTests: XCTestCase {
    private func batch(_ tensors: [Tensor]) throws -> SafetensorsFile { try SafetensorsFile(tensors: tensors) }

    func testClassificationBatchRoundTrip() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("batch.safetensors")
        let d = try Dataset(x: [1, 2, 3, 4, 5, 6], inputShape: [3], targets: .labels([1, 0], classes: 2))
        try d.batchFile(xDType: .f64, labelDType: .i32).write(to: url)
        let file = try SafetensorsFile.read(from: url)
        XCTAssertEqual(file["x"]?.shape, [2, 3])
        XCTAssertEqual(file["y"]?.shape, [2])
        XCTAssertEqual(file["y"]?.dtype, .i32)
        XCTAssertEqual(try Dataset.loadSafetensors(from: url, target: .classes(2), features: 3), d)
    }

    func testSequenceRegressionBatch() throws {
        let x = (0..<12).map(Double.init)
        let d = try Dataset(x: x, inputShape: [3, 2], targets: .values([0.5, 1.5, 2.5, 3.5], outputs: 2))
        let file = try d.batchFile()  // x as F32, exact for these values
        XCTAssertEqual(file["x"]?.shape, [2, 3, 2])
        XCTAssertEqual(file["x"]?.dtype, .f32)
        XCTAssertEqual(file["y"]?.shape, [2, 2])
        let back = try Dataset(batch: file, source: "b", target: .values(2))
        XCTAssertEqual(back, d)
        XCTAssertEqual(back.inputShape, [3, 2])
        XCTAssertEqual(back.features, 6)
    }

    func testShapeChecks() throws {
        let x2 = try Tensor(name: "x", shape: [2, 2], doubles: [1, 2, 3, 4])
        let labels = try Tensor(name: "y", shape: [2], ints: [0, 1])
        assertDataError({ try Dataset(batch: self.batch([labels]), source: "b.st", target: .classes(2)) },
                        kind: .missingTensor(name: "x", available: ["y"]),
                        contains: ["b.st: there is no tensor \"x\"; the file holds \"y\""])
        assertDataError({ try Dataset(batch: self.batch([x2]), source: "b.st", target: .classes(2)) },
                        kind: .missingTensor(name: "y", available: ["x"]))
        assertDataError({ try Dataset(batch: self.batch([Tensor(name: "x", shape: [4], doubles: [1, 2, 3, 4]), labels]),
                                      source: "b.st", target: .classes(2)) },
                        kind: .wrongTensor(name: "x", expected: "of shape [N, F] or [N, L, C] with every dimension at least 1",
                                           found: "F64 [4]"))
        assertDataError({ try Dataset(batch: self.batch([x2, labels]), source: "b.st", target: .classes(2), features: 3) },
                        kind: .wrongTensor(name: "x", expected: "of shape [N, 3] (or [N, L, C] with L*C = 3)", found: "F64 [2, 2]"))
        assertDataError({ try Dataset(batch: self.batch([x2, Tensor(name: "y", shape: [2], doubles: [0, 1], dtype: .f32)]),
                                      source: "b.st", target: .classes(2)) },
                        kind: .wrongTensor(name: "y", expected: "integer labels (I32 or I64) of shape [2]", found: "F32 [2]"))
        assertDataError({ try Dataset(batch: self.batch([x2, Tensor(name: "y", shape: [3], ints: [0, 1, 1])]),
                                      source: "b.st", target: .classes(2)) },
                        kind: .wrongTensor(name: "y", expected: "integer labels (I32 or I64) of shape [2]", found: "I64 [3]"))
        assertDataError({ try Dataset(batch: self.batch([x2, Tensor(name: "y", shape: [2], ints: [0, 5])]),
                                      source: "b.st", target: .classes(2)) },
                        kind: .wrongTensor(name: "y", expected: "labels in 0...1", found: "label 5 at sample 1"),
                        contains: ["b.st: tensor \"y\" should be labels in 0...1, found label 5 at sample 1"])
        // One target value per sample may be [N] (what nngen convert writes for whole numbers); two may not.
        XCTAssertEqual(try Dataset(batch: self.batch([x2, Tensor(name: "y", shape: [2], doubles: [0, 1])]),
                                   source: "b.st", target: .values(1)).y, [0, 1])
        assertDataError({ try Dataset(batch: self.batch([x2, Tensor(name: "y", shape: [2], doubles: [0, 1])]),
                                      source: "b.st", target: .values(2)) },
                        kind: .wrongTensor(name: "y", expected: "of shape [2, 2]", found: "F64 [2]"))
        assertDataError({ try Dataset(batch: self.batch([Tensor(name: "x", shape: [1, 2], doubles: [1, .nan]),
                                                         Tensor(name: "y", shape: [1], ints: [0])]),
                                      source: "b.st", target: .classes(2)) },
                        kind: .wrongTensor(name: "x", expected: "finite", found: "nan at sample 0, feature 1"))
    }

    func testDatasetInitChecks() {
        assertDataError({ try Dataset(x: [1, 2, 3], inputShape: [2], targets: .labels([0], classes: 2)) },
                        kind: .invalidArgument("x holds 3 values, not a whole number of samples of 2 features"))
        assertDataError({ try Dataset(x: [1, 2], inputShape: [2], targets: .labels([2], classes: 2)) },
                        kind: .labelOutOfRange(label: 2, classes: 2))
        assertDataError({ try Dataset(x: [1, 2], inputShape: [2], targets: .values([1], outputs: 2)) },
                        kind: .invalidArgument("1 samples of 2 target values need 2 values, got 1"))
        assertDataError({ try Dataset(x: [1, 2], inputShape: [], targets: .values([1], outputs: 1)) },
                        kind: .invalidArgument("the input shape must be one or more positive dimensions, got []"))
    }
}
