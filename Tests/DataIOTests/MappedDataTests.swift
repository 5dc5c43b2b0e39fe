import DataIO
import Foundation
import XCTest

/// Data batch files written by `writeBatchFile` (what `nngen convert` writes) and read back
/// memory-mapped by `loadSafetensors`.
final class MappedDataTests: XCTestCase {
    func testConvertRoundTripIsExactAndMapped() throws {
        let dir = try makeTempDirectory(self)
        let csv = try Dataset.loadCSV(from: examplesData.appendingPathComponent("iris.csv"), features: 4, target: .classes(3))
        for dtype in [DType.f64, .f32] {
            let url = dir.appendingPathComponent("iris-\(dtype.rawValue).safetensors")
            try csv.writeBatchFile(to: url, xDType: dtype, metadata: ["source": "iris.csv", "rows": "\(csv.count)"])
            let back = try Dataset.loadSafetensors(from: url, target: .classes(3), features: 4)
            XCTAssertTrue(back.store.isMapped)
            XCTAssertEqual(back.store.dtype, dtype)
            XCTAssertEqual(back.labels, csv.labels)
            XCTAssertEqual(back.x.map(\.bitPattern), csv.x.map { dtype == .f32 ? Double(Float($0)).bitPattern : $0.bitPattern })
            let file = try SafetensorsFile.read(from: url)
            XCTAssertEqual(file.metadata, ["source": "iris.csv", "rows": "150"])
            XCTAssertEqual(file["x"]?.shape, [150, 4])
            XCTAssertEqual(file["y"]?.dtype, .i64)
        }
        // Regression targets keep the dtype of x, and the same checks and messages as a file read whole.
        let values = try Dataset(x: [1, 2, 3, 4], inputShape: [2], targets: .values([0.5, -1.25], outputs: 1))
        let v = dir.appendingPathComponent("v.safetensors")
        try values.writeBatchFile(to: v, xDType: .f64, metadata: [:])
        XCTAssertEqual(try Dataset.loadSafetensors(from: v, target: .values(1)), values)
        assertDataError({ try Dataset.loadSafetensors(from: v, target: .values(2)) },
                        kind: .wrongTensor(name: "y", expected: "of shape [2, 2]", found: "F64 [2, 1]"))
        assertDataError({ try Dataset.loadSafetensors(from: v, target: .values(1), features: 3) },
                        kind: .wrongTensor(name: "x", expected: "of shape [N, 3] (or [N, L, C] with L*C = 3)", found: "F64 [2, 2]"))
    }

    /// Whole-number targets are written as labels; a one-output regression model reads them as values.
    func testLabelsServeAOneOutputRegressionModel() throws {
        let url = try makeTempDirectory(self).appendingPathComponent("d.safetensors")
        let d = try Dataset(x: [1, 2, 3, 4, 5, 6], inputShape: [2], targets: .labels([151, 75, 141], classes: 152))
        try d.writeBatchFile(to: url, xDType: .f32, metadata: [:])
        let asValues = try Dataset.loadSafetensors(from: url, target: .values(1), features: 2)
        XCTAssertEqual(asValues.y, [151, 75, 141])
        assertDataError({ try Dataset.loadSafetensors(from: url, target: .values(2), features: 2) },
                        kind: .wrongTensor(name: "y", expected: "of shape [3, 2]", found: "I64 [3]"))
    }

    func testMappedAndReadFilesGiveTheSameErrors() throws {
        let dir = try makeTempDirectory(self)
        let bad = try SafetensorsFile(tensors: [Tensor(name: "x", shape: [2, 2], doubles: [1, .nan, 3, 4], dtype: .f32),
                                                Tensor(name: "y", shape: [2], ints: [0, 1], dtype: .i64)])
        let url = dir.appendingPathComponent("bad.safetensors")
        try bad.write(to: url)
        assertDataError({ try Dataset.loadSafetensors(from: url, target: .classes(2)) },
                        kind: .wrongTensor(name: "x", expected: "finite", found: "nan at sample 0, feature 1"))
        let noY = dir.appendingPathComponent("noy.safetensors")
        try SafetensorsFile(tensors: [Tensor(name: "x", shape: [1, 1], doubles: [1])]).write(to: noY)
        assertDataError({ try Dataset.loadSafetensors(from: noY, target: .classes(2)) },
                        kind: .missingTensor(name: "y", available: ["x"]))
        let empty = dir.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        assertDataError({ try Dataset.loadSafetensors(from: empty, target: .classes(2)) }, kind: .fileTooShort(size: 0))
    }

    /// The process's anonymous memory in bytes (RssAnon in /proc/self/status), or nil off Linux.
    func rssAnon() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }),
              let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return nil }
        return kb * 1024
    }

    /// Loading a mapped data file of 40,000 x 256 F32 values (41 MB), splitting and
    /// standardising it and gathering every sample takes well under 10% of its size in anonymous
    /// memory (the labels, 8 bytes a sample, and the row lists are copied; the inputs are not).
    func testMappedDataDoesNotGrowAnonymousMemory() throws {
        guard rssAnon() != nil else { throw XCTSkip("needs /proc/self/status") }
        let n = 40_000, f = 256
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("big.safetensors")
        do {
            var x = [Double](repeating: 0, count: n * f)
            for i in 0..<x.count { x[i] = Double(i % 251) }
            try Dataset(x: x, inputShape: [f], targets: .labels((0..<n).map { $0 % 10 }, classes: 10))
                .writeBatchFile(to: url, xDType: .f32, metadata: [:])
        }
        let before = try XCTUnwrap(rssAnon())
        let d = try Dataset.loadSafetensors(from: url, target: .classes(10), features: f)
        let split = try d.split(validationFraction: 0.2, seed: 1)
        let s = try Standardizer(fitting: split.train)
        let train = try s.apply(to: split.train)
        var row = [Double](repeating: 0, count: f)
        var sum = 0.0
        for i in 0..<train.count {
            train.copyInput(i, into: &row, at: 0)
            sum += row[0]
        }
        let grown = try XCTUnwrap(rssAnon()) - before
        XCTAssertTrue(sum.isFinite)
        XCTAssertLessThan(grown, n * f * 4 / 10, "anonymous memory grew by \(grown) bytes for \(n * f * 4) bytes of data")
    }
}
