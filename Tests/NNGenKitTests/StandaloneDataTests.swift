import DataIO
import Foundation
import XCTest

/// The standalone program's data readers: the fast CSV path, the general one (a quoted file) and
/// a memory-mapped safetensors data file give the same training, checkpoint byte for byte; the
/// divergence message suggests standardising raw inputs.
final class StandaloneDataTests: XCTestCase {
    func testFastCSVGeneralCSVAndMappedDataTrainTheSame() throws {
        let build = try StandaloneTests.build("digits_mlp", .f32)
        let dir = try makeScratchDirectory()
        let csvText = try String(contentsOf: StandaloneTests.dataURL("digits.csv"), encoding: .utf8)
        // Quoting the first field of the last row sends the whole file through the general reader.
        var lines = csvText.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let last = lines.removeLast()
        let comma = try XCTUnwrap(last.firstIndex(of: ","))
        lines.append("\"" + last[..<comma] + "\"" + last[comma...])
        let quoted = dir.appendingPathComponent("quoted.csv")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: quoted)
        let data = try Dataset.loadCSV(from: StandaloneTests.dataURL("digits.csv"), features: 64, target: .classes(10))
        let mapped = dir.appendingPathComponent("digits.safetensors")
        try data.writeBatchFile(to: mapped, xDType: .f32, metadata: ["source": "digits.csv"])

        var checkpoints: [Data] = []
        var epochLines: [[String]] = []
        for (file, name) in [(StandaloneTests.dataURL("digits.csv").path, "fast"), (quoted.path, "general"),
                             (mapped.path, "mapped")] {
            let run = try StandaloneTests.train(build, file, ["--epochs", "2", "--save", "\(name).safetensors"], in: dir)
            XCTAssertEqual(run.status, 0, "\(name): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains("1797 samples from"), run.stderr)
            epochLines.append(try StandaloneTests.epochLines(run.stdout).map(\.fields).map { "\($0)" })
            checkpoints.append(try Data(contentsOf: dir.appendingPathComponent("\(name).safetensors")))
        }
        XCTAssertEqual(epochLines[0], epochLines[1])
        XCTAssertEqual(epochLines[0], epochLines[2])
        XCTAssertEqual(checkpoints[0], checkpoints[1], "the fast and the general CSV reader")
        XCTAssertEqual(checkpoints[0], checkpoints[2], "the CSV and the mapped safetensors file")

        // Errors found past the fast path's first look are the general reader's, with line and column.
        let bad = dir.appendingPathComponent("bad.csv")
        try Data((lines.prefix(5).joined(separator: "\n") + "\n1,2\n").utf8).write(to: bad)
        let failed = try StandaloneTests.train(build, bad.path, ["--epochs", "1"], in: dir)
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(failed.stderr.contains("bad.csv, line 6: expected 65 fields (64 features + 1 label), found 2"), failed.stderr)
    }

    func makeScratchDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("StandaloneDataTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
