import Foundation
import XCTest

/// Runs the built `nngen` binary and checks exit codes and messages: 0 success, 1 a user error
/// with `error: ...` on stderr and no stack trace, 2 a usage error.
final class CLITests: XCTestCase {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The package root (Tests/nngenTests/CLITests.swift is two levels down).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The nngen binary built with the tests: next to the test bundle or the test runner (which
    /// is where SwiftPM puts it, whatever `--scratch-path` says), else in `.build/debug`.
    static var binary: URL {
        let candidates = [
            Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent(),
            Bundle.main.executableURL?.deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            root.appendingPathComponent(".build/debug"),
        ].compactMap { $0 }
        let dir = candidates.first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("nngen").path) }
        return (dir ?? candidates[candidates.count - 1]).appendingPathComponent("nngen")
    }

    func nngen(_ args: [String], in directory: URL? = nil) throws -> Run {
        try Self.run(args, in: directory)
    }

    /// Runs the built nngen with `args` in `directory` (the package root by default); for the
    /// other CLI test classes too.
    static func run(_ args: [String], in directory: URL? = nil, environment: [String: String]? = nil) throws -> Run {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.currentDirectoryURL = directory ?? Self.root
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                   stderr: String(decoding: e, as: UTF8.self))
    }

    func tempFile(_ name: String, _ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func assertUserError(_ r: Run, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), "stderr: \(r.stderr)", file: file, line: line)
        for p in parts { XCTAssertTrue(r.stderr.contains(p), "missing \"\(p)\" in: \(r.stderr)", file: file, line: line) }
        XCTAssertFalse(r.stderr.contains("Stack dump") || r.stderr.contains("Fatal error"), file: file, line: line)
    }

    func testDescribeSucceeds() throws {
        let r = try nngen(["describe", "examples/digits_mlp.json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("17,226"), r.stdout)  // parameters of the digits MLP
        XCTAssertTrue(r.stdout.contains("3,268,608"), r.stdout)  // FLOPs per training step
        XCTAssertTrue(r.stdout.contains("arena (planned)"), r.stdout)
    }

    func testInvalidModelIsAUserErrorNamingFileAndLayer() throws {
        let url = try tempFile("bad.json", """
        {"name": "m", "input": {"length": 4, "channels": 2}, "batch": 2,
         "layers": [{"type": "conv1d", "filters": 3, "kernel": 3, "stride": 2, "padding": "same"},
                    {"type": "dense", "units": 2}],
         "loss": {"type": "mse"}}
        """)
        let r = try nngen(["describe", url.path])
        assertUserError(r, contains: [url.path, "layers[0] (conv1d)", "\"same\" works only with stride 1"])
    }

    func testMalformedJSONNamesLineAndColumn() throws {
        let url = try tempFile("broken.json", "{\n  \"name\": \"m\",\n  \"batch\" 2\n}\n")
        let r = try nngen(["describe", url.path])
        assertUserError(r, contains: [url.path, "line 3"])
    }

    func testMissingFileIsAUserError() throws {
        let r = try nngen(["describe", "/nonexistent/model.json"])
        assertUserError(r, contains: ["/nonexistent/model.json"])
    }

    func testUsageErrorsExitWith2() throws {
        XCTAssertEqual(try nngen(["describe"]).status, 2)
        XCTAssertEqual(try nngen(["no-such-command"]).status, 2)
        XCTAssertEqual(try nngen(["describe", "examples/digits_mlp.json", "--bogus"]).status, 2)
        let r = try nngen(["check", "examples/iris.json", "--backend", "gpu"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("gpu"), r.stderr)
    }

    func testCheckPassesAndExitsZero() throws {
        let r = try nngen(["check", "examples/iris.json", "--backend", "tcc", "--dtype", "f64", "--steps", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("all 8 rows pass"), r.stdout)
        XCTAssertFalse(r.stdout.contains("FAIL"))
    }

    func testEmitWritesEveryFileAndDumps() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-cli-emit-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let r = try nngen(["emit", "examples/iris.json", "-o", dir.path, "--dtype", "f64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for f in ["iris.h", "iris.c", "train.c", "Makefile", "README.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        let dump = try nngen(["emit", "examples/iris.json", "-o", dir.path, "--dump-after", "fuse"])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        XCTAssertTrue(dump.stdout.contains("softmax_cross_entropy"), dump.stdout)
        // Without fusion the loss stays two primitive nodes (softmax, then cross-entropy).
        let unfused = try nngen(["emit", "examples/iris.json", "-o", dir.path, "--dump-after", "fuse", "--no-fusion"])
        XCTAssertEqual(unfused.status, 0, unfused.stderr)
        XCTAssertFalse(unfused.stdout.contains("softmax_cross_entropy"), unfused.stdout)
        XCTAssertTrue(unfused.stdout.contains("cross_entropy"), unfused.stdout)
    }

    func testCheckWithoutFusionPasses() throws {
        let r = try nngen(["check", "examples/digits_conv.json", "--backend", "tcc", "--dtype", "f64", "--steps", "1",
                           "--no-fusion"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.contains("FAIL"), r.stdout)
    }

    func testTrainFromAnotherDirectoryWithNoModel() throws {
        // The default job (README): the digits MLP on the bundled data, from any directory.
        let r = try nngen(["train", "--epochs", "2", "--backend", "tcc"], in: FileManager.default.temporaryDirectory)
        XCTAssertEqual(r.status, 0, r.stderr)
        let epochs = r.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }
        XCTAssertEqual(epochs.count, 2, r.stdout)
        XCTAssertTrue(epochs[0].hasPrefix("epoch 1/2  train_loss "), String(epochs[0]))
        XCTAssertTrue(epochs[0].contains("val_acc"), String(epochs[0]))
    }

    func testTrainOnDataThatDoesNotFitIsAUserError() throws {
        let r = try nngen(["train", "examples/iris.json", "--data", "examples/data/digits.csv", "--epochs", "1"])
        assertUserError(r, contains: ["digits.csv"])
    }
}
