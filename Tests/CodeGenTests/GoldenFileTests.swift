// Golden-file tests of the emitted C (`NAME.h` and `NAME.c`) for three small models.
//
// The expected files live in Tests/CodeGenTests/Golden/ (copied into the test bundle and read
// with Bundle.module). When the code generator changes on purpose, re-record them:
//
//     NNGEN_RECORD_GOLDEN=1 swift test --filter GoldenFileTests
//
// With NNGEN_RECORD_GOLDEN=1 the tests write the current output into the SOURCE tree
// (Tests/CodeGenTests/Golden/, found from #filePath) and fail with a message saying what was
// recorded, so a recording run is never mistaken for a passing one. Review the change with
// `git diff Tests/CodeGenTests/Golden` and run the tests again without the variable.
import CodeGen
import Foundation
import ModelSpec
import XCTest

final class GoldenFileTests: XCTestCase {
    /// A 2-layer MLP with softmax cross-entropy and plain SGD, float32.
    func testMLPSoftmaxCrossEntropySGDFloat32() throws {
        let a = try analyze("golden_mlp", input: .features(4), batch: 4, loss: .softmaxCrossEntropy,
                            optimizer: .sgd(lr: 0.1), [.dense(units: 8), .activation(.relu), .dense(units: 3)])
        try assertGolden(a, scalar: .f32, file: "golden_mlp_f32")
    }

    /// conv1d + relu + layernorm + maxpool on a sequence, mse, Adam, float32.
    func testConvLayerNormMaxPoolMSEAdamFloat32() throws {
        let a = try analyze("golden_seq", input: .sequence(length: 8, channels: 2), batch: 2, loss: .mse,
                            optimizer: .adam(lr: 0.01),
                            [.conv1d(filters: 4, kernel: 3, padding: .same), .activation(.relu), .layerNorm(),
                             .maxPool1d(kernel: 2, stride: 2), .flatten, .dense(units: 2)])
        try assertGolden(a, scalar: .f32, file: "golden_seq_f32")
    }

    /// A residual block with gelu, bce_with_logits and AdamW, float64.
    func testResidualGELUBCEAdamWFloat64() throws {
        let a = try analyze("golden_res", input: .features(4), batch: 3, loss: .bceWithLogits,
                            optimizer: .adamw(lr: 0.01),
                            [.dense(units: 6), .residual([.layerNorm(), .dense(units: 6), .activation(.gelu), .dense(units: 6)]),
                             .dense(units: 1)])
        try assertGolden(a, scalar: .f64, file: "golden_res_f64")
    }

    /// The diff used in failure messages points at the first differing lines.
    func testLineDiffShowsTheFirstDifferenceWithContext() {
        let expected = (1...10).map { "line \($0)" }.joined(separator: "\n")
        let actual = expected.replacingOccurrences(of: "line 6", with: "line six")
        let diff = LineDiff.unified(expected: expected, actual: actual)
        XCTAssertEqual(diff, """
            --- expected
            +++ actual
            @@ -3,7 +3,7 @@
             line 3
             line 4
             line 5
            -line 6
            +line six
             line 7
             line 8
             line 9
            """)
        XCTAssertEqual(LineDiff.unified(expected: expected, actual: expected), "")
        let inserted = LineDiff.unified(expected: "a\nb", actual: "a\nx\nb")
        XCTAssertEqual(inserted, "--- expected\n+++ actual\n@@ -1,2 +1,3 @@\n a\n+x\n b")
    }

    // MARK: - Support

    static let recordVariable = "NNGEN_RECORD_GOLDEN"

    /// The golden folder in the source tree (where recording writes).
    static var sourceGoldenDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    }

    /// Compares the generated header and source with `Golden/FILE.h` and `Golden/FILE.c`, or
    /// records them when NNGEN_RECORD_GOLDEN=1.
    func assertGolden(_ analysis: ModelAnalysis, scalar: ScalarType, file: String,
                      sourceFile: StaticString = #filePath, line: UInt = #line) throws {
        let code = compile(analysis, options: CompileOptions(scalar: scalar)).code
        let outputs = [("h", code.header), ("c", code.source)]
        if ProcessInfo.processInfo.environment[Self.recordVariable] == "1" {
            let dir = Self.sourceGoldenDirectory
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var written: [String] = []
            for (ext, text) in outputs {
                let url = dir.appendingPathComponent("\(file).\(ext)")
                try Data(text.utf8).write(to: url, options: .atomic)
                written.append(url.path)
            }
            XCTFail("\(Self.recordVariable)=1: recorded \(written.joined(separator: " and ")); "
                    + "review them and run the tests again without the variable", file: sourceFile, line: line)
            return
        }
        for (ext, actual) in outputs {
            let name = "\(file).\(ext)"
            guard let url = Bundle.module.url(forResource: file, withExtension: ext, subdirectory: "Golden") else {
                XCTFail("no golden file Golden/\(name) in the test bundle; record it with "
                        + "\(Self.recordVariable)=1 swift test --filter GoldenFileTests", file: sourceFile, line: line)
                continue
            }
            let expected = try String(contentsOf: url, encoding: .utf8)
            if expected != actual {
                let diff = LineDiff.unified(expected: expected, actual: actual, expectedName: "Golden/\(name)",
                                            actualName: "generated \(name)")
                XCTFail("generated \(name) differs from Golden/\(name) (if the change is intended, re-record with "
                        + "\(Self.recordVariable)=1):\n\(diff)", file: sourceFile, line: line)
            }
        }
    }
}
