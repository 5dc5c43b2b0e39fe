import CodeGen
import Foundation
@testable import JIT
import ModelSpec
import XCTest

/// Stopping a cc build (a `--backend auto` run that ends before its cc build is done).
final class CompileCancellationTests: XCTestCase {
    /// A "compiler" that starts a child and waits 60 s, as gcc waits for cc1.
    private func slowCompiler() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-slowcc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("slow-cc")
        try "#!/bin/sh\nsleep 60 &\nwait\n".write(to: url, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url
    }

    /// cancel() stops the compiler and its children: the compilation throws `.cancelled` at once
    /// instead of after 60 s (the pipe closes only when the child `sleep` is gone too).
    func testCancelStopsTheCompilerAndItsChildren() throws {
        var cc = CCBackend(compiler: try slowCompiler().path)
        let cancellation = CompileCancellation()
        cc.cancellation = cancellation
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { cancellation.cancel() }
        let start = Date()
        XCTAssertThrowsError(try cc.compile(source: "int f(void) { return 1; }")) { error in
            XCTAssertEqual(error as? JITError, .cancelled)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "the compiler was not stopped")
        XCTAssertTrue(cancellation.isCancelled)
        XCTAssertThrowsError(try cc.compile(source: "int f(void) { return 1; }")) { error in
            XCTAssertEqual(error as? JITError, .cancelled, "a cancelled token stops later compilations before they start")
        }
    }

    /// A tiered model runs on tcc at once; finish() stops its unfinished cc build, and it stays on tcc.
    func testTieredModelRunsOnTCCAndFinishStopsTheBuild() throws {
        let a = try Model(name: "tiny", input: .features(3), batch: 2, layers: [.dense(units: 2)],
                          loss: .mse, optimizer: .sgd(lr: 0.1)).analyze()
        let tiered = try TieredModel(analysis: a, options: CompileOptions(scalar: .f32),
                                     tiered: TieredBackend(optimised: CCBackend(compiler: try slowCompiler().path)))
        XCTAssertEqual(tiered.current.backendName, "tcc")
        XCTAssertFalse(tiered.startOptimisedBuild(workLeft: 0.5), "under minimumWork (1 s): no build")
        XCTAssertFalse(tiered.buildStarted)
        XCTAssertTrue(tiered.startOptimisedBuild(workLeft: 10), "10 s of work: a build even on a busy machine")
        XCTAssertFalse(tiered.switchIfReady())
        tiered.finish()
        XCTAssertFalse(tiered.switchIfReady(), "a cancelled build is no build")
        XCTAssertEqual(tiered.current.backendName, "tcc")
        XCTAssertNil(tiered.switchedAtStep)
    }

    /// Once the cc build is done, switchIfReady() moves to it with the whole state.
    func testTieredModelSwitchesWithTheState() throws {
        let a = try Model(name: "tiny", input: .features(3), batch: 2, layers: [.dense(units: 2)],
                          loss: .mse, optimizer: .adam(lr: 0.1)).analyze()
        let tiered = try TieredModel(analysis: a, options: CompileOptions(scalar: .f64), tiered: TieredBackend())
        let m = tiered.current
        m.initialize(seed: 1)
        try m.setBatch(x: [1, 2, 3, -1, 0.5, 2], values: [0.5, -0.5, 1, 2])
        m.trainStep(learningRate: 0.1)
        let (params, state) = (m.parameters, m.optimizerState)
        tiered.waitForOptimisedBuild()
        XCTAssertTrue(tiered.switchIfReady())
        XCTAssertEqual(tiered.current.backendName, "cc")
        XCTAssertEqual(tiered.switchedAtStep, 1)
        XCTAssertEqual(tiered.current.step, 1)
        XCTAssertEqual(tiered.current.parameters, params)
        XCTAssertEqual(tiered.current.optimizerState, state)
        XCTAssertFalse(tiered.switchIfReady(), "it switches once")
        // The batch moved too: the next step on cc is the tcc build's next step.
        let onCC = tiered.current.trainStep(learningRate: 0.1)
        let onTCC = m.trainStep(learningRate: 0.1)
        XCTAssertEqual(onCC.bitPattern, onTCC.bitPattern)
        XCTAssertEqual(tiered.current.step, 2)
        XCTAssertEqual(tiered.current.parameters, m.parameters)
        XCTAssertEqual(tiered.current.optimizerState, m.optimizerState)
    }
}
