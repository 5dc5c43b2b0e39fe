import Foundation
import XCTest

/// A C compiler failure reaching the user names the model and its file and says what to try.
final class CompilerFailureMessageTests: XCTestCase {
    func testFailingCompilerNamesTheModelAndWhatToTry() throws {
        // A `cc` that always fails, first on PATH.
        let bin = try fakeCompiler(named: "cc", script: "echo 'error: this compiler always fails' >&2\nexit 1\n")
            .deletingLastPathComponent()

        let model = CLITests.root.appendingPathComponent("examples/iris.json").path
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["check", model, "--backend", "cc", "--dtype", "f32"]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = bin.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1, text)
        XCTAssertTrue(text.hasPrefix("error: compiling the C generated for model 'iris' (\(model)) failed"), text)
        XCTAssertTrue(text.contains("this compiler always fails"), text)
        XCTAssertTrue(text.contains("please report it with the model file \(model)"), text)
        XCTAssertTrue(text.contains("--backend tcc"), text)
    }
}
