import DataIO
import Foundation
import ModelSpec
import XCTest

/// A sample of ReaderFuzzTests' mutated inputs through the built nngen binary: model files
/// through `nngen describe`, CSV and safetensors data files and safetensors parameter files
/// through `nngen eval examples/iris.json`. Each run must exit 0, or 1 with `error: ` on stderr
/// naming the file, never by a signal or with a usage error, and within a time limit.
/// `NNGEN_FUZZ_CLI_CASES` (default 8) sets the cases per reader; see docs/TESTING.md.
final class CLIReaderFuzzTests: XCTestCase {
    static let timeLimit = 120.0

    /// The nngen binary built with the tests (as CLITests finds it).
    static var binary: URL? {
        let candidates = [
            Bundle(for: CLIReaderFuzzTests.self).bundleURL.deletingLastPathComponent(),
            Bundle.main.executableURL?.deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            kitTestsPackageRoot.appendingPathComponent(".build/debug"),
        ].compactMap { $0 }
        return candidates.map { $0.appendingPathComponent("nngen") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    struct Run {
        var status: Int32
        var signaled: Bool
        var timedOut: Bool
        var stdout: String
        var stderr: String
    }

    /// Runs nngen with a time limit (output through files, so that large outputs cannot block).
    static func nngen(_ binary: URL, _ args: [String], in dir: URL) throws -> Run {
        let outURL = dir.appendingPathComponent("out-\(UUID().uuidString)"), errURL = dir.appendingPathComponent("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.currentDirectoryURL = kitTestsPackageRoot
        p.standardOutput = out
        p.standardError = err
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        try p.run()
        var timedOut = false
        if done.wait(timeout: .now() + timeLimit) == .timedOut {
            timedOut = true
            p.terminate()
            if done.wait(timeout: .now() + 5) == .timedOut { kill(p.processIdentifier, SIGKILL); done.wait() }
        }
        try out.close()
        try err.close()
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        return Run(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal, timedOut: timedOut,
                   stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                   stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
    }

    /// The problems with a run about `file`.
    static func problems(_ r: Run, file: String) -> [String] {
        if r.timedOut { return ["did not finish within \(timeLimit) s"] }
        if r.signaled { return ["killed by signal \(r.status); stderr: \(r.stderr.prefix(2000))"] }
        if r.status == 0 { return [] }
        var p: [String] = []
        if r.status != 1 { p.append("exit status \(r.status) (1 is a user error, 2 a usage error)") }
        // Notes (`note: ...`) may come first; the error is the line starting with `error: `.
        let errorLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        if errorLines.isEmpty { p.append("no line of stderr starts with \"error: \"") }
        if !errorLines.contains(where: { $0.contains(file) }) { p.append("the error does not name the file \(file)") }
        for line in errorLines { p += messageProblems(String(line.dropFirst(7))) }
        return p.isEmpty ? [] : p + ["stderr: \(r.stderr.prefix(2000))"]
    }

    func testMutatedInputsThroughTheBinary() throws {
        guard let binary = Self.binary else {
            return XCTFail("the nngen binary was not found next to the tests; build it with swift build --build-tests")
        }
        let dir = try scratchDirectory(self, "nngen-cli-fuzz")
        let root = kitTestsPackageRoot
        let iris = root.appendingPathComponent("examples/iris.json").path

        // Bases: parameters from nngen init, the head of iris.csv, and that head as a batch file.
        let params = dir.appendingPathComponent("params.safetensors")
        let initRun = try Self.nngen(binary, ["init", iris, "-o", params.path], in: dir)
        XCTAssertEqual(initRun.status, 0, initRun.stderr)
        let paramBytes = [UInt8](try Data(contentsOf: params))
        let csvBase = try ReaderFuzzTests.exampleCSVs()[0]
        let irisHead = dir.appendingPathComponent("iris_head.csv")
        try Data(csvBase.bytes).write(to: irisHead)
        let batchBytes = [UInt8](try Dataset(csv: CSVTable.parse(Data(csvBase.bytes), source: "iris"), features: 4,
                                             target: .classes(3)).batchFile().encoded())
        let models = try ReaderFuzzTests.exampleModels()

        // The unmutated bases read: otherwise every case would fail for the same reason.
        let batchBase = dir.appendingPathComponent("iris_head.safetensors")
        try Data(batchBytes).write(to: batchBase)
        for args in [["describe", iris], ["eval", iris, "--params", params.path, "--data", irisHead.path],
                     ["eval", iris, "--params", params.path, "--data", batchBase.path]] {
            let run = try Self.nngen(binary, args, in: dir)
            XCTAssertEqual(run.status, 0, "nngen \(args.joined(separator: " ")): \(run.stderr)")
        }

        let log = FuzzLog()
        let base = FuzzSettings.seed
        let n = FuzzSettings.cliCases
        let start = Date()
        for i in 0..<n {
            for reader in ["model", "csv", "params", "batch"] {
                let seed = FuzzSettings.caseSeed(base, stream: 5, index: i * 4 + ["model", "csv", "params", "batch"].firstIndex(of: reader)!)
                var r = FuzzRandom(seed: seed)
                let how: String, bytes: [UInt8], file: URL, args: [String]
                switch reader {
                case "model":
                    let (name, original) = r.pick(models)
                    (how, bytes) = Mutator.model(original, &r)
                    file = dir.appendingPathComponent("case\(i)_\(name)")
                    args = ["describe", file.path]
                case "csv":
                    (how, bytes) = Mutator.csv(csvBase.bytes, &r)
                    file = dir.appendingPathComponent("case\(i)_iris.csv")
                    args = ["eval", iris, "--params", params.path, "--data", file.path]
                case "params":
                    (how, bytes) = Mutator.safetensors(paramBytes, &r)
                    file = dir.appendingPathComponent("case\(i)_params.safetensors")
                    args = ["eval", iris, "--params", file.path, "--data", irisHead.path]
                default:
                    (how, bytes) = Mutator.safetensors(batchBytes, &r)
                    file = dir.appendingPathComponent("case\(i)_iris.safetensors")
                    args = ["eval", iris, "--params", params.path, "--data", file.path]
                }
                try Data(bytes).write(to: file)
                let run = try Self.nngen(binary, args, in: dir)
                log.count("\(reader) exit \(run.status)")
                let p = Self.problems(run, file: file.path)
                if !p.isEmpty {
                    log.fail("""
                    CLI \(reader) case \(i) (NNGEN_FUZZ_SEED=\(base), case seed \(seed)), \(how):
                      nngen \(args.map { $0.replacingOccurrences(of: dir.path + "/", with: "") }.joined(separator: " "))
                      \(p.joined(separator: "\n  "))
                      input: \(describeBytes(bytes))
                    """)
                }
            }
        }
        print(String(format: "fuzz CLI: %d runs in %.1f s, %d failures; outcomes: %@", 4 * n,
                     Date().timeIntervalSince(start), log.failures.count, log.summary))
        XCTAssertTrue(log.failures.isEmpty, "\(log.failures.count) failing runs:\n" + log.failures.prefix(10).joined(separator: "\n"))
    }
}
