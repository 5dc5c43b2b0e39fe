import DataIO
import Foundation
import XCTest

/// Writes go to a temporary file that is renamed over the destination.
final class SafetensorsAtomicWriteTests: XCTestCase {
    private func sample(_ value: Double) throws -> SafetensorsFile {
        try SafetensorsFile(tensors: [Tensor(name: "w", shape: [2], doubles: [value, -value], dtype: .f64)],
                            metadata: ["v": "\(value)"])
    }

    private func entries(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    func testOverwriteReplacesFileAndLeavesNoTemporaryFile() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("ckpt.safetensors")
        try sample(1).write(to: url)
        try sample(2).write(to: url)
        XCTAssertEqual(try SafetensorsFile.read(from: url), try sample(2))
        XCTAssertEqual(try entries(dir), ["ckpt.safetensors"])
    }

    func testFailedRenameKeepsOldContentAndRemovesTemporaryFile() throws {
        let dir = try makeTempDirectory(self)
        // The destination is a non-empty directory: the temporary file is written, the rename fails.
        let destination = dir.appendingPathComponent("ckpt.safetensors", isDirectory: true)
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: false)
        let inside = destination.appendingPathComponent("keep.txt")
        try Data("old".utf8).write(to: inside)
        let error = expectError { try sample(3).write(to: destination) }
        guard case .writeFailed(let reason)? = error?.kind else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.hasPrefix("cannot replace the file: "), reason)
        XCTAssertEqual(error?.file, destination.path)
        XCTAssertTrue(error?.description.contains("any earlier file there is unchanged") ?? false)
        XCTAssertEqual(try entries(dir), ["ckpt.safetensors"])
        XCTAssertEqual(try entries(destination), ["keep.txt"])
        XCTAssertEqual(try Data(contentsOf: inside), Data("old".utf8))
    }

    func testFailedTemporaryWriteKeepsOldFile() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("ckpt.safetensors")
        try sample(1).write(to: url)
        let before = try Data(contentsOf: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path) }
        if FileManager.default.isWritableFile(atPath: dir.path) {
            throw XCTSkip("running with permissions that ignore a read-only directory (root)")
        }
        let error = expectError { try sample(2).write(to: url) }
        guard case .writeFailed(let reason)? = error?.kind else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.hasPrefix("cannot write a temporary file in "), reason)
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try entries(dir), ["ckpt.safetensors"])
    }

    /// Root ignores a read-only directory, but cannot create files in /proc.
    func testTemporaryFileThatCannotBeCreated() throws {
        let proc = URL(fileURLWithPath: "/proc/self", isDirectory: true)
        guard FileManager.default.fileExists(atPath: proc.path) else { throw XCTSkip("no /proc") }
        let error = expectError { try sample(1).write(to: proc.appendingPathComponent("ckpt.safetensors")) }
        guard case .writeFailed(let reason)? = error?.kind else { return XCTFail("got \(String(describing: error))") }
        XCTAssertTrue(reason.hasPrefix("cannot write a temporary file in /proc/self: "), reason)
    }

    func testLongFileName() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent(String(repeating: "n", count: 240) + ".safetensors")
        try sample(1).write(to: url)
        try sample(2).write(to: url)
        XCTAssertEqual(try SafetensorsFile.read(from: url), try sample(2))
        XCTAssertEqual(try entries(dir), [url.lastPathComponent])
    }

    func testMissingDirectoryFails() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("no/such/dir/ckpt.safetensors")
        let error = expectError { try sample(1).write(to: url) }
        guard case .writeFailed? = error?.kind else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(try entries(dir), [])
    }
}
