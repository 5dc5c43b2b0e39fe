@testable import NNGenKit
import JIT
import ModelSpec
import XCTest

/// What `nngen check` prints for a failing row: the worst element (index in the tensor's shape
/// and flat, both values), the function that wrote the tensor, and the first values of both sides.
final class CheckReportTests: XCTestCase {
    func testFailingRowNamesTheWorstElementBothValuesAndTheKernel() {
        let generated = [0.0, 1.0, 2.0, 3.0, 4.0, 9.5]
        let reference = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        let row = compare("layers.0.weight", generated, reference, tolerance: 1e-4, shape: [2, 3],
                          writer: "layers_0_dense_backward_weight")
        XCTAssertFalse(row.passed)
        XCTAssertEqual(row.worst, WorstElement(position: [1, 2], flatIndex: 5, generated: 9.5, reference: 5.0))
        let report = CheckReport(backend: "cc", scalar: .f64, rows: [row], compileSeconds: 0.5)
        let text = formatCheckReport(report, model: "m")
        XCTAssertTrue(text.contains("layers.0.weight"), text)
        XCTAssertTrue(text.contains("      worst element [1, 2] (flat 5): generated 9.5, reference 5\n"), text)
        XCTAssertTrue(text.contains("      written by layers_0_dense_backward_weight\n"), text)
        XCTAssertTrue(text.contains("      first values: generated [0, 1, 2, 3, 4], reference [0, 1, 2, 3, 4]"), text)
        XCTAssertTrue(text.hasSuffix("1 of 1 rows FAIL"), text)
    }

    func testNaNIsTheWorstElement() {
        let row = compare("input", [1, .nan, 100], [1, 2, 3], tolerance: 1e-4)
        XCTAssertEqual(row.worst?.flatIndex, 1)
        XCTAssertFalse(row.passed)
    }

    /// Every gradient row of a real check names the kernel that wrote it, one of the model's kernels.
    func testEveryGradientRowNamesItsKernel() throws {
        let a = try analyzeTestModel("w", input: .sequence(length: 6, channels: 2), batch: 3, loss: .softmaxCrossEntropy,
                                     optimizer: .sgd(lr: 0.1), [
            .conv1d(filters: 3, kernel: 3, padding: .same), .activation(.relu), .layerNorm(), .flatten, .dense(units: 2),
        ])
        let report = try checkGradients(a, backend: TCCBackend(), scalar: .f64)
        let kernels = try CompiledModel(analysis: a, backend: TCCBackend()).compilation.code.kernelNames
        for row in report.rows where row.name != "init (same seed)" {
            let writer = try XCTUnwrap(row.writer, row.name)
            XCTAssertTrue(kernels.contains(writer), "\(row.name) written by \(writer)")
        }
        XCTAssertEqual(report.rows.first { $0.name == "layers.2.bias" }?.writer, "layers_2_layernorm_backward")
    }
}
