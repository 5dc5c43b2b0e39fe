import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import Reference
import XCTest

/// Learning-rate schedules against PyTorch's formulas, the monitor against Keras's counting,
/// gradient clipping (generated code against the reference interpreter and torch's formula), and
/// the checkpoint's train_* metadata.
final class TrainingFeaturesTests: XCTestCase {
    // MARK: schedules (expected numbers from the documented formulas, worked out by hand)

    /// StepLR(step_size=2, gamma=0.5), stepped once per epoch: 0.1, 0.1, 0.05, 0.05, 0.025, 0.025.
    func testStepScheduleIsStepLR() {
        let s = LearningRateSchedule(kind: .step, stepSize: 2, gamma: 0.5)
        let perEpoch = (1...6).map { s.rate(0.1, epoch: $0, step: 2, steps: 3, epochs: 6) }
        XCTAssertEqual(perEpoch, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
        // Every step of an epoch has the epoch's rate.
        XCTAssertEqual((0..<3).map { s.rate(0.1, epoch: 3, step: $0, steps: 3, epochs: 6) }, [0.05, 0.05, 0.05])
        XCTAssertFalse(LearningRateSchedule().varies)
        XCTAssertTrue(s.varies)
    }

    /// CosineAnnealingLR(T_max=4, eta_min=0.001) in closed form, once per epoch:
    /// 0.001 + 0.099 * (1 + cos(pi * k / 4)) / 2 for k = 0...3.
    func testCosineScheduleIsCosineAnnealingLR() {
        let s = LearningRateSchedule(kind: .cosine, lrMin: 0.001)
        let got = (1...4).map { s.rate(0.1, epoch: $0, step: 0, steps: 5, epochs: 4) }
        let expected = [0.1, 0.001 + 0.099 * 0.8535533905932737, 0.0505, 0.001 + 0.099 * 0.14644660940672627]
        for (g, e) in zip(got, expected) { XCTAssertEqual(g, e, accuracy: 1e-16) }
        XCTAssertEqual(got[2], 0.0505, accuracy: 1e-17)
    }

    /// Warm-up 1 epoch of 4 steps (LinearLR, start_factor 1/4, total_iters 3): 0.025, 0.05, 0.075,
    /// 0.1; then cosine over the 2 remaining epochs (T_max 2, floor 0): 0.1, then 0.05.
    func testWarmupThenCosine() {
        let s = LearningRateSchedule(kind: .cosine, warmupEpochs: 1)
        for (t, e) in [0.025, 0.05, 0.075, 0.1].enumerated() {
            XCTAssertEqual(s.rate(0.1, epoch: 1, step: t, steps: 4, epochs: 3), e, accuracy: 2e-17)
        }
        XCTAssertEqual(s.rate(0.1, epoch: 2, step: 3, steps: 4, epochs: 3), 0.1)
        XCTAssertEqual(s.rate(0.1, epoch: 3, step: 0, steps: 4, epochs: 3), 0.05, accuracy: 1e-17)
        // Warm-up before a constant rate.
        let w = LearningRateSchedule(kind: .constant, warmupEpochs: 2)
        XCTAssertEqual(w.rate(0.2, epoch: 1, step: 0, steps: 5, epochs: 3), 0.02, accuracy: 1e-17)
        XCTAssertEqual(w.rate(0.2, epoch: 2, step: 4, steps: 5, epochs: 3), 0.2)
        XCTAssertEqual(w.rate(0.2, epoch: 3, step: 2, steps: 5, epochs: 3), 0.2)
    }

    /// OneCycleLR(max_lr=0.1, total_steps=10) with its defaults: initial 0.1/25 = 0.004, peak at
    /// step 0.3 * 10 - 1 = 2, final 0.004/1e4 = 4e-7 at step 9; cosine annealing in both phases.
    func testOneCycleIsOneCycleLR() {
        let s = LearningRateSchedule(kind: .onecycle)
        func at(_ t: Int) -> Double { s.rate(0.1, epoch: t / 5 + 1, step: t % 5, steps: 5, epochs: 2) }
        XCTAssertEqual(at(0), 0.004, accuracy: 1e-17)
        XCTAssertEqual(at(1), 0.052, accuracy: 1e-17)  // 0.1 + (0.004 - 0.1) / 2 * (cos(pi/2) + 1)
        XCTAssertEqual(at(2), 0.1, accuracy: 1e-17)
        // Phase 2: pct = (t - 2) / 7.
        for t in 3...9 {
            let pct = Double(t - 2) / 7
            XCTAssertEqual(at(t), 4e-7 + (0.1 - 4e-7) / 2 * (cos(Double.pi * pct) + 1), accuracy: 1e-17, "step \(t)")
        }
        XCTAssertEqual(at(9), 4e-7, accuracy: 1e-20)
        XCTAssertEqual(at(5), 4e-7 + (0.1 - 4e-7) / 2 * (cos(Double.pi * 3 / 7) + 1), accuracy: 1e-17)
        XCTAssertEqual(at(5), 0.06112620, accuracy: 1e-8)  // 0.0499998 * (cos(3 pi / 7) + 1) + 4e-7
    }

    func testScheduleSettingsAreChecked() throws {
        XCTAssertEqual(LearningRateSchedule(kind: .cosine, warmupEpochs: 5).problem(epochs: 5, learningRate: 0.1),
                       "--warmup 5 must be fewer epochs than the run's 5 (--epochs), so that the schedule has epochs left")
        XCTAssertNotNil(LearningRateSchedule(kind: .onecycle, warmupEpochs: 1).problem(epochs: 5, learningRate: 0.1))
        XCTAssertEqual(LearningRateSchedule(kind: .cosine, lrMin: 0.5).problem(epochs: 5, learningRate: 0.1),
                       "--lr-min 0.5 must not exceed the learning rate 0.1")
        XCTAssertEqual(TrainingFeatureFlags(gamma: 1.5).problem, "--gamma must be in (0, 1] (got 1.5)")
        XCTAssertEqual(TrainingFeatureFlags(clipNorm: 0).problem, "--clip-norm must be a positive number (got 0)")
        XCTAssertNil(TrainingFeatureFlags(warmup: 0, stepSize: 1, gamma: 1, lrMin: 0, clipNorm: 1e-3, minDelta: 0, patience: 0).problem)
        // Options built in code are checked the same way (the library's path).
        let iris = try Model.load(from: trainingPackageRoot.appendingPathComponent("examples/iris.json")).analyze()
        XCTAssertEqual(TrainingOptions(epochs: 3, learningRate: 0.1, patience: -2).featureProblem(iris),
                       "--patience must be 0 or more epochs (got -2)")
        XCTAssertEqual(TrainingOptions(epochs: 3, learningRate: 0.1, clipNorm: 1e39).featureProblem(iris)?.hasPrefix("--clip-norm"),
                       true)
        XCTAssertNil(LearningRateSchedule(kind: .cosine, warmupEpochs: 4).problem(epochs: 5, learningRate: 0.1))
    }

    // MARK: monitor

    /// Keras's EarlyStopping counting: an improvement must beat the best by more than min_delta.
    func testMonitorCountsEpochsWithoutImprovement() {
        var m = MonitorState(metric: .valLoss, minDelta: 0.01, patience: 2)
        XCTAssertTrue(m.observe(1.0, epoch: 1))
        XCTAssertFalse(m.observe(0.995, epoch: 2))  // better, but not by more than 0.01
        XCTAssertEqual(m.badEpochs, 1)
        XCTAssertTrue(m.observe(0.98, epoch: 3))
        XCTAssertEqual(m.best?.epoch, 3)
        XCTAssertEqual(m.badEpochs, 0)
        XCTAssertFalse(m.observe(0.99, epoch: 4))
        XCTAssertFalse(m.exhausted)
        XCTAssertFalse(m.observe(0.975, epoch: 5))
        XCTAssertTrue(m.exhausted)
        XCTAssertEqual(m.stopReason, "val_loss has not improved by more than 0.01 for 2 epochs (--patience 2); best 0.980000 at epoch 3")

        var a = MonitorState(metric: .valAcc)
        XCTAssertTrue(a.observe(0.5, epoch: 1))
        XCTAssertFalse(a.observe(0.5, epoch: 2))  // equal is no improvement
        XCTAssertTrue(a.observe(0.6, epoch: 3))
        XCTAssertFalse(a.exhausted)  // no patience: never
        XCTAssertEqual(a.best?.value, 0.6)
    }

    // MARK: clipping

    /// torch.nn.utils.clip_grad_norm_ on [3, 4] (norm 5): max_norm 1 scales by 1 / (5 + 1e-6);
    /// max_norm 10 leaves it alone (the coefficient is clamped to 1).
    func testReferenceClippingIsTorchsFormula() {
        var g = [3.0, 4.0]
        XCTAssertEqual(clipGradientNorm(&g, maxNorm: 1), 5)
        XCTAssertEqual(g[0], 3 / 5.000001, accuracy: 1e-16)
        XCTAssertEqual(g[1], 4 / 5.000001, accuracy: 1e-16)
        XCTAssertEqual(g[0], 0.59999988000002, accuracy: 1e-14)
        var h = [3.0, 4.0]
        XCTAssertEqual(clipGradientNorm(&h, maxNorm: 10), 5)
        XCTAssertEqual(h, [3, 4])
    }

    /// The generated NAME_clip_grad_norm and NAME_train_step_clip against the reference
    /// interpreter: the norm, the clipped gradients and the parameters after 3 clipped Adam steps,
    /// on both back ends in f32 and f64.
    func testGeneratedClippingMatchesTheReference() throws {
        let analysis = try Model.load(from: trainingPackageRoot.appendingPathComponent("examples/iris.json")).analyze()
        let dataset = try trainingExampleData("iris", for: analysis)
        let batch = analysis.model.batch, f = 4
        let x = Array(dataset.x.prefix(batch * f))
        guard case .labels(let all, _) = dataset.targets else { return XCTFail("iris has labels") }
        let labels = Array(all.prefix(batch))
        let reference = ReferenceInterpreter(analysis)
        let lr = analysis.model.optimizer.learningRate
        for backend in [TCCBackend() as any CBackend, CCBackend()] {
            for scalar in [ScalarType.f32, .f64] {
                let what = "\(backend.name) \(scalar.rawValue)"
                let tol = scalar == .f64 ? 1e-12 : 2e-5
                let compiled = try CompiledModel(analysis: analysis, backend: backend, scalar: scalar)
                compiled.initialize(seed: 3)
                try compiled.setBatch(x: x, labels: labels)
                let start = compiled.parameters  // in the model's dtype
                compiled.forward()
                compiled.backward()
                let expected = try reference.gradients(parameters: start, input: x, targets: .labels(labels))
                var clipped = expected.parameters
                let refNorm = clipGradientNorm(&clipped, maxNorm: 0.25)
                XCTAssertGreaterThan(refNorm, 0.5, "the test needs gradients that get clipped")
                let norm = compiled.clipGradients(maxNorm: 0.25)
                XCTAssertEqual(norm, refNorm, accuracy: tol * refNorm, what)
                let got = compiled.gradients
                let gotNorm = got.reduce(0) { $0 + $1 * $1 }.squareRoot()
                // torch's coefficient 0.25 / (norm + 1e-6) leaves the norm just under 0.25.
                XCTAssertEqual(gotNorm, 0.25 * refNorm / (refNorm + 1e-6), accuracy: scalar == .f64 ? 1e-12 : 1e-6,
                               "\(what): clipped norm")
                for (a, b) in zip(got, clipped) { XCTAssertEqual(a, b, accuracy: tol, what) }

                // Three clipped Adam steps, generated and reference.
                compiled.initialize(seed: 3)
                var params = compiled.parameters
                var optimizer = ReferenceOptimizer(analysis.model.optimizer, parameterCount: params.count)
                for _ in 0..<3 {
                    try compiled.setBatch(x: x, labels: labels)
                    compiled.trainStep(learningRate: lr, clipNorm: 0.25)
                    var g = try reference.gradients(parameters: params, input: x, targets: .labels(labels)).parameters
                    clipGradientNorm(&g, maxNorm: 0.25)
                    try optimizer.update(parameters: &params, gradients: g)
                }
                let after = compiled.parameters
                let worst = zip(after, params).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, scalar == .f64 ? 1e-12 : 1e-5, "\(what): parameters after 3 clipped steps")
                // Clipping changed the result: an unclipped step ends elsewhere.
                compiled.initialize(seed: 3)
                for _ in 0..<3 {
                    try compiled.setBatch(x: x, labels: labels)
                    compiled.trainStep(learningRate: lr)
                }
                XCTAssertGreaterThan(zip(compiled.parameters, after).map { abs($0 - $1) }.max() ?? 0, 1e-4, what)
            }
        }
    }

    // MARK: checkpoint metadata

    /// The schedule, clipping norm and monitor go into train_* metadata and come back; a
    /// checkpoint without them (as every older one) reads back with none.
    func testCheckpointKeepsScheduleClippingAndMonitor() throws {
        let analysis = try Model.load(from: trainingPackageRoot.appendingPathComponent("examples/iris.json")).analyze()
        let n = analysis.parameterCount
        var ck = Checkpoint(model: analysis.model, scalar: .f32, parameters: [Double](repeating: 0.5, count: n),
                            optimizerState: [Double](repeating: 0, count: 2 * n), step: 21, epoch: 3,
                            standardizer: try Standardizer(mean: [0, 0, 0, 0], std: [1, 1, 1, 1]), seed: 1,
                            validationSplit: 0.2, learningRate: 0.01)
        let plain = try ck.safetensors()
        XCTAssertFalse(plain.metadata.keys.contains { $0.hasPrefix("train_") })
        let back = try Checkpoint(file: plain, source: "plain")
        XCTAssertNil(back.schedule)
        XCTAssertNil(back.clipNorm)
        XCTAssertNil(back.monitor)

        ck.schedule = LearningRateSchedule(kind: .cosine, warmupEpochs: 2, lrMin: 0.0001)
        ck.clipNorm = 0.5
        ck.monitor = MonitorState(metric: .valAcc, minDelta: 0.001, patience: 4, best: (0.9, 2), badEpochs: 1)
        let file = try ck.safetensors()
        XCTAssertEqual(file.metadata["train_schedule"], "cosine")
        XCTAssertEqual(file.metadata["train_warmup"], "2")
        XCTAssertEqual(file.metadata["train_lr_min"], "0.0001")
        XCTAssertEqual(file.metadata["train_clip_norm"], "0.5")
        XCTAssertEqual(file.metadata["train_monitor"], "val_acc")
        XCTAssertEqual(file.metadata["train_best"], "0.9")
        XCTAssertEqual(file.metadata["train_best_epoch"], "2")
        XCTAssertEqual(file.metadata["train_bad_epochs"], "1")
        XCTAssertEqual(file.metadata["train_patience"], "4")
        XCTAssertEqual(try Checkpoint(file: file, source: "full"), ck)

        var broken = file
        broken.metadata["train_bad_epochs"] = "-1"
        XCTAssertThrowsError(try Checkpoint(file: broken, source: "b.safetensors")) { error in
            XCTAssertEqual("\(error)", "b.safetensors: metadata \"train_bad_epochs\" should be an integer of at least 0, found \"-1\"")
        }
    }

    // MARK: batch and threads

    /// `--threads 2` (OpenMP, cc) gives the same epoch lines and parameters bit for bit as one
    /// thread; `--batch 8` trains code generated for batch 8 (twice the steps of batch 16).
    func testThreadsChangeNothingAndBatchChangesTheSteps() throws {
        var model = try Model.load(from: trainingPackageRoot.appendingPathComponent("examples/digits_mlp.json"))
        let analysis = try model.analyze()
        let dataset = try trainingExampleData("digits", for: analysis)
        let options = TrainingOptions(epochs: 2, learningRate: 0.002, schedule: LearningRateSchedule(kind: .onecycle), clipNorm: 1)
        let one = try Trainer(analysis: analysis, dataset: dataset, options: options, backend: CCBackend())
        let two = try Trainer(analysis: analysis, dataset: dataset, options: options, backend: try benchBackend("cc", threads: 2))
        let a = try one.run(), b = try two.run()
        func fields(_ r: EpochReport) -> String { r.line.components(separatedBy: "  ").dropLast().joined(separator: "  ") }
        XCTAssertEqual(a.reports.map(fields), b.reports.map(fields))
        XCTAssertTrue(zip(one.compiled.parameters, two.compiled.parameters).allSatisfy { $0.bitPattern == $1.bitPattern })

        model.batch = 8
        let small = try Trainer(analysis: try model.analyze(), dataset: dataset, options: options, backend: TCCBackend())
        let s = try small.run()
        XCTAssertEqual(s.reports.first?.steps, small.data.train.count / 8)
        XCTAssertEqual(a.reports.first?.steps, one.data.train.count / 32)
    }
}
