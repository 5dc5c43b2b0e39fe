import Foundation
import ModelSpec
import XCTest

/// Analyses a model built from explicit layers (an invalid one throws its validation error,
/// which fails the test with the message).
func analyzeTestModel(_ name: String, input: InputShape, batch: Int = 2, loss: Loss, optimizer: Optimizer = .adam(),
             _ layers: [Layer]) throws -> ModelAnalysis {
    try Model(name: name, input: input, batch: batch, layers: layers, loss: loss, optimizer: optimizer).analyze()
}

/// The package root (the directory holding Package.swift), found from this file's path.
let kitTestsPackageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // NNGenKitTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()

/// The model files of examples/ (`bench: false`) or examples/bench/ (`bench: true`), analysed, by file name.
func exampleModelFiles(bench: Bool) throws -> [ModelAnalysis] {
    let dir = kitTestsPackageRoot.appendingPathComponent(bench ? "examples/bench" : "examples")
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
    return try names.map { n in
        let path = dir.appendingPathComponent(n).path
        return try Model.load(from: URL(fileURLWithPath: path)).analyze(file: path)
    }
}

/// A fresh temporary directory, removed when the test ends.
func scratchDirectory(_ test: XCTestCase, _ prefix: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// The result of running a program.
struct ProgramOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The full path of an executable found in PATH, or nil.
func findProgram(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Runs `executable` with `arguments` in `directory`, capturing stdout and stderr (through
/// files, so large outputs cannot block the pipe).
func runProgram(_ executable: String, _ arguments: [String], in directory: URL,
                environment: [String: String]? = nil) throws -> ProgramOutput {
    let outURL = directory.appendingPathComponent("stdout-\(UUID().uuidString).txt")
    let errURL = directory.appendingPathComponent("stderr-\(UUID().uuidString).txt")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.currentDirectoryURL = directory
    if let environment { p.environment = environment }
    p.standardOutput = out
    p.standardError = err
    try p.run()
    p.waitUntilExit()
    try out.close()
    try err.close()
    return ProgramOutput(status: p.terminationStatus,
                         stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
}

/// `max |a - b| / max |b|` (0 when equal; infinite when the counts differ).
func maxRelativeError(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    var maxAbs = 0.0, scale = 0.0
    for (x, y) in zip(a, b) {
        let d = abs(x - y)
        maxAbs = d.isNaN || maxAbs.isNaN ? .nan : max(maxAbs, d)
        scale = max(scale, abs(y))
    }
    return maxAbs == 0 ? 0 : maxAbs / max(scale, Double.leastNormalMagnitude)
}
