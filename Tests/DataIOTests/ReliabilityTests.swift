import DataIO
import Foundation
import XCTest

/// Stale temporaries of killed saves, save paths checked up front, file problems in plain
/// words, echoed values cut short.
final class DataIOReliabilityTests: XCTestCase {
    private func sample() throws -> SafetensorsFile {
        try SafetensorsFile(tensors: [Tensor(name: "w", shape: [1], doubles: [1], dtype: .f64)])
    }

    /// The pid of a process that has ended.
    private func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func testSaveRemovesStaleTemporariesOfDeadSavesOnly() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("m.ckpt")
        let dead = try deadPID()
        let names = [".m.ckpt.tmp-\(dead)-0", ".m.ckpt.tmp-\(dead)-17",  // a killed save: removed
                     ".m.ckpt.tmp-1-0",                                    // pid 1 runs: kept
                     ".m.ckpt.tmp-\(dead)-x", ".m.ckpt.tmp-\(dead)", ".other.tmp-\(dead)-0",  // not ours: kept
                     ".m.ckpt.tmp-\(dead)-0-\(UUID().uuidString)"]
        for n in names { try Data("partial".utf8).write(to: dir.appendingPathComponent(n)) }
        try sample().write(to: url)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(left, (["m.ckpt"] + names.dropFirst(2)).sorted())
        XCTAssertEqual(try SafetensorsFile.read(from: url), try sample())
    }

    func testCheckWritableNamesThePathAndTheReason() throws {
        let dir = try makeTempDirectory(self)
        XCTAssertNoThrow(try SafetensorsFile.checkWritable(dir.appendingPathComponent("ok.ckpt")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        let missing = dir.appendingPathComponent("no/such/m.ckpt")
        let e1 = expectError { try SafetensorsFile.checkWritable(missing) }
        XCTAssertEqual(e1?.description, "\(missing.path): cannot write the file (any earlier file there is unchanged): "
                       + "the directory \(dir.path)/no/such does not exist")
        let e2 = expectError { try SafetensorsFile.checkWritable(dir) }
        XCTAssertTrue(e2?.description.hasSuffix(": it is a directory") ?? false, "\(String(describing: e2))")
    }

    func testReadingADirectoryOrMissingFileSaysSoInWords() throws {
        let dir = try makeTempDirectory(self)
        let e1 = expectError { try SafetensorsFile.read(from: dir) }
        XCTAssertTrue(e1?.description.contains("is a directory") ?? false, "\(String(describing: e1))")
        let e2 = expectError { try SafetensorsFile.read(from: dir.appendingPathComponent("none.safetensors")) }
        XCTAssertTrue(e2?.description.contains("cannot read the file: does not exist") ?? false, "\(String(describing: e2))")
        XCTAssertFalse(e2?.description.contains("NSCocoaErrorDomain") ?? true)
    }

    func testHugeCSVFieldIsCutInTheMessage() throws {
        let field = String(repeating: "7a", count: 500_000)
        let e = expectError { try CSVTable.parse(Data("1,2\n3,\(field)\n".utf8), source: "big.csv").numericRows() }
        let text = e?.description ?? ""
        XCTAssertTrue(text.hasPrefix("big.csv, line 2, column 2: \""), text)
        XCTAssertTrue(text.contains("... (1000000 characters)"), String(text.prefix(300)))
        XCTAssertLessThan(text.count, 300)
    }

    func testHugeTensorNameIsCutInTheMessage() throws {
        let name = String(repeating: "t", count: 100_000)
        let e: DataError? = DataError(file: "x.safetensors", .missingTensor(name: name, available: [name, name]))
        XCTAssertLessThan(e?.description.count ?? 0, 300)
        XCTAssertTrue(e?.description.contains("(100000 characters)") ?? false)
    }
}
