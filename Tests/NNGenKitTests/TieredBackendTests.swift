import CodeGen
import DataIO
import Foundation
@testable import JIT
import ModelSpec
import NNGenKit
import XCTest

/// `--backend auto` (docs/TRAINING.md, "Back ends"): the tcc and cc builds of a model give the
/// same bits, so a run that moves from one to the other at any step ends where either alone does.
final class TieredBackendTests: XCTestCase {
    /// The bits of every value, so that the comparison is exact (and NaN equals NaN).
    private func bits(_ v: [Double]) -> [UInt64] { v.map(\.bitPattern) }

    /// `steps` training steps from `NAME_init(seed 3)` on synthetic batches (a fresh one per
    /// step; the last step clips to global norm 0.5, so `train_step_clip`'s path runs too).
    private func run(_ a: ModelAnalysis, _ backend: any CBackend, _ scalar: ScalarType,
                     steps: Int) throws -> (params: [UInt64], state: [UInt64], losses: [UInt64], step: Int64) {
        let m = try CompiledModel(analysis: a, backend: backend, scalar: scalar)
        m.initialize(seed: 3)
        var losses: [Double] = []
        for s in 0..<steps {
            let batch = SyntheticBatch(a, seed: 40 + UInt64(s)).rounded(to: scalar)
            try m.setBatch(x: batch.x, labels: batch.labels, values: batch.values)
            let lr = a.model.optimizer.learningRate
            losses.append(m.trainStep(learningRate: lr, clipNorm: s == steps - 1 ? 0.5 : nil))
        }
        return (bits(m.parameters), bits(m.optimizerState), bits(losses), m.step)
    }

    /// Every examples/*.json and examples/bench/*.json model, f32 and f64: a few steps on the tcc
    /// build (precompiled helpers) and on the cc build (-O3 -march=native) give the same
    /// parameters, optimizer state and losses bit for bit, on whatever machine runs the test.
    func testTCCAndCCBuildsGiveTheSameBitsOnEveryExampleAndWorkload() throws {
        let models = try exampleModelFiles(bench: false) + exampleModelFiles(bench: true)
        XCTAssertGreaterThanOrEqual(models.count, 14)
        for a in models {
            let steps = a.parameterCount > 200_000 ? 2 : 3  // W2 and W4 are big: 2 steps
            for scalar in [ScalarType.f32, .f64] {
                let tcc = try run(a, TCCBackend(), scalar, steps: steps)
                let cc = try run(a, CCBackend(), scalar, steps: steps)
                let what = "\(a.model.name) \(scalar.rawValue), \(steps) steps"
                XCTAssertEqual(tcc.losses, cc.losses, "\(what): losses, tcc vs cc")
                XCTAssertTrue(tcc.params == cc.params,
                              "\(what): \(zip(tcc.params, cc.params).filter { $0 != $1 }.count) parameters differ, tcc vs cc")
                XCTAssertTrue(tcc.state == cc.state,
                              "\(what): \(zip(tcc.state, cc.state).filter { $0 != $1 }.count) optimizer state values differ")
                XCTAssertEqual(tcc.step, Int64(steps))
                XCTAssertEqual(cc.step, Int64(steps))
            }
        }
    }

    private func options(_ epochs: Int, save: URL, scalar: ScalarType) -> TrainingOptions {
        TrainingOptions(epochs: epochs, learningRate: 0.002, seed: 5, validationSplit: 0.2, scalar: scalar, save: save)
    }

    /// The checkpoint bytes of a 2-epoch digits_mlp run (Adam: moments and step count) with `selection`.
    private func checkpointBytes(_ selection: BackendSelection, scalar: ScalarType, in dir: URL, name: String,
                                 warnings: inout [String]) throws -> (bytes: Data, summary: TrainingSummary) {
        let path = kitTestsPackageRoot.appendingPathComponent("examples/digits_mlp.json").path
        let a = try Model.load(from: URL(fileURLWithPath: path)).analyze(file: path)
        let dataset = try trainingExampleData("digits", for: a)
        let ck = dir.appendingPathComponent("\(name).safetensors")
        let trainer = try Trainer(analysis: a, dataset: dataset, options: options(2, save: ck, scalar: scalar),
                                  selection: selection)
        var seen: [String] = []
        trainer.warn = { seen.append($0) }
        let summary = try trainer.run()
        warnings = seen
        return (try Data(contentsOf: ck), summary)
    }

    /// An auto run that moves to the cc build at a forced step (inside epoch 2: 44 steps per
    /// epoch) ends with the same checkpoint bytes as a run on tcc alone and one on cc alone.
    func testAutoRunSwitchingAtAForcedStepEndsWithTheSameCheckpointBytes() throws {
        let dir = try trainingTempDirectory(self)
        var warnings: [String] = []
        for scalar in [ScalarType.f32, .f64] {
            let tcc = try checkpointBytes(.single(TCCBackend()), scalar: scalar, in: dir, name: "tcc", warnings: &warnings)
            let cc = try checkpointBytes(.single(CCBackend()), scalar: scalar, in: dir, name: "cc", warnings: &warnings)
            XCTAssertNil(tcc.summary.tiering)
            for k in [Int64(0), 1, 50] {
                let auto = try checkpointBytes(.auto(TieredBackend(switchAtStep: k)), scalar: scalar, in: dir,
                                               name: "auto\(k)", warnings: &warnings)
                XCTAssertEqual(auto.summary.tiering, .switched(step: k, epoch: k == 50 ? 2 : 1), "\(scalar) k \(k)")
                XCTAssertEqual(auto.bytes, tcc.bytes, "\(scalar): auto switching at step \(k) against tcc alone")
                XCTAssertEqual(auto.bytes, cc.bytes, "\(scalar): auto switching at step \(k) against cc alone")
                XCTAssertEqual(warnings, [])
                XCTAssertNotNil(auto.summary.firstStepSeconds)
            }
            XCTAssertEqual(tcc.bytes, cc.bytes, "\(scalar): tcc alone against cc alone")
            XCTAssertEqual(tcc.summary.reports.map(\.trainLoss), cc.summary.reports.map(\.trainLoss))
        }
    }

    /// A compiler that fails: the run warns once, quoting it, stays on tcc, and ends with the
    /// tcc run's checkpoint.
    func testFailingCCBuildWarnsWithTheCompilersMessageAndTrainingGoesOnOnTCC() throws {
        let dir = try trainingTempDirectory(self)
        let broken = dir.appendingPathComponent("broken-cc")
        try "#!/bin/sh\necho 'broken-cc: error: refusing to compile on purpose' >&2\nexit 3\n"
            .write(to: broken, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: broken.path)
        var warnings: [String] = []
        let tcc = try checkpointBytes(.single(TCCBackend()), scalar: .f32, in: dir, name: "tcc", warnings: &warnings)
        // Forced at step 1: the build's outcome is waited for there, so the failure is certain to be seen.
        let auto = try checkpointBytes(.auto(TieredBackend(optimised: CCBackend(compiler: broken.path), switchAtStep: 1)),
                                       scalar: .f32, in: dir, name: "auto", warnings: &warnings)
        XCTAssertEqual(auto.summary.tiering, .ccFailed)
        XCTAssertEqual(auto.summary.tiering?.text, "tcc throughout (the cc build failed: see the warning)")
        XCTAssertEqual(warnings.count, 1, "\(warnings)")
        let warning = warnings.first ?? ""
        XCTAssertTrue(warning.hasPrefix("the cc build of digits_mlp failed, so training continues on tcc"), warning)
        XCTAssertTrue(warning.contains("exited with status 3"), warning)
        XCTAssertTrue(warning.contains("broken-cc: error: refusing to compile on purpose"), warning)
        XCTAssertEqual(auto.bytes, tcc.bytes)
    }

    /// `switched to cc at step 412 (epoch 1)`: the text the summary prints.
    func testTieringTexts() {
        XCTAssertEqual(TieringOutcome.switched(step: 412, epoch: 1).text, "switched to cc at step 412 (epoch 1)")
        XCTAssertEqual(TieringOutcome.tccThroughout.text, "tcc throughout (the run ended before the cc build was ready)")
    }

    /// `--backend auto` is what `backendSelection` makes of "auto", with `--threads` on its cc build.
    func testBackendSelectionNames() throws {
        guard case .auto(let tier) = try backendSelection("auto", threads: 2) else { return XCTFail("auto") }
        XCTAssertTrue(tier.optimised.extraFlags.contains("-DNN_THREADS=2"), "\(tier.optimised.extraFlags)")
        XCTAssertNil(tier.switchAtStep)
        XCTAssertEqual(try backendSelection("tcc", threads: 1).name, "tcc")
        XCTAssertEqual(try backendSelection("cc", threads: 1).name, "cc")
        XCTAssertThrowsError(try backendSelection("tcc", threads: 2))
    }
}
