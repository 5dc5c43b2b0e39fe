// Defines the iris classifier with the DSL, trains it on examples/data/iris.csv with the JIT (a
// cosine learning-rate schedule, keeping the best epoch's checkpoint), checks its gradients
// against the reference interpreter, emits its C, and exits non-zero unless the validation
// accuracy reaches 90%, the best checkpoint predicts the three species and the gradient check passes.
import Foundation
import NNGen

let examples = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

let model = Model("iris", input: .features(4), batch: 16, loss: .softmaxCrossEntropy,
                  optimizer: .adam(lr: 0.01), standardize: true) {
    Dense(16); ReLU(); Dense(3)
}

do {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-consumer-\(getpid())")
    defer { try? FileManager.default.removeItem(at: scratch) }
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)

    // Train as `nngen train --schedule cosine --lr-min 0.0005 --save-best FILE` does: seed 1, 20%
    // held out, inputs standardised, f32, libtcc; the best epoch by validation loss is saved.
    let data = try ModelDataset(csv: examples.appendingPathComponent("data/iris.csv").path, for: model)
    let trainer = try ModelTrainer(model, backend: .tcc)
    print("compiled \(model.name) in \(String(format: "%.0f", trainer.compileSeconds * 1000)) ms")
    let best = scratch.appendingPathComponent("iris-best.safetensors").path
    let history = try trainer.fit(data, epochs: 50,
                                  options: FitOptions(schedule: .cosine(lrMin: 0.0005), saveBest: best)) { report in
        if report.epoch % 10 == 0 { print(report.line) }
    }
    let accuracy = history.final?.validation?.accuracy ?? 0
    print(String(format: "validation accuracy after %d epochs: %.2f%%", trainer.epochsCompleted, accuracy * 100))
    let bestEpoch = history.bestCheckpoint?.epoch ?? 0
    print(String(format: "best checkpoint: epoch %d, val_loss %.6f", bestEpoch, history.bestLoss?.metrics.loss ?? .nan))

    // The best checkpoint, in the CLI's format (`nngen predict`, `nngen train --resume` read it), read back.
    let restored = try ModelTrainer(checkpoint: best)
    let flowers = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.7, 3.0, 5.2, 2.3]]
    let classes = try restored.classify(flowers)
    print("predicted classes of \(flowers): \(classes)")

    // The generated gradients against the Swift reference interpreter (float64, cc).
    let report = try model.checkGradients(backend: .cc, dtype: .f64)
    let worst = report.rows.map(\.maxRelativeError).max() ?? .nan
    print("gradient check (\(report.backend), \(report.scalar.rawValue)): \(report.rows.count) rows, "
          + "worst relative error \(String(format: "%.2e", worst)): \(report.passed ? "passed" : "FAILED")")

    // What `nngen emit` writes: the model's C and a standalone training program.
    let files = try model.emitC(to: scratch.appendingPathComponent("c"))
    print("emitted \(files.map(\.lastPathComponent).joined(separator: ", "))")

    var failures: [String] = []
    if accuracy < 0.9 { failures.append(String(format: "validation accuracy %.2f%% < 90%%", accuracy * 100)) }
    if !report.passed { failures.append("the gradient check failed") }
    if classes != [0, 1, 2] { failures.append("the best checkpoint predicts \(classes), not [0, 1, 2]") }
    if bestEpoch < 1 || restored.epochsCompleted != bestEpoch {
        failures.append("the best checkpoint holds epoch \(restored.epochsCompleted), not \(bestEpoch)")
    }
    if !files.contains(where: { $0.lastPathComponent == "iris.c" }) { failures.append("no iris.c emitted") }
    if !failures.isEmpty {
        print("FAILED: " + failures.joined(separator: "; "))
        exit(1)
    }
    print("ok")
} catch {
    print("error: \(error)")
    exit(1)
}
