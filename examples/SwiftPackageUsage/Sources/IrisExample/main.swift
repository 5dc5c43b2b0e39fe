// Defines the iris classifier with the DSL, trains it on examples/data/iris.csv with the JIT,
// checks its gradients against the reference interpreter, emits its C, and exits non-zero unless
// the validation accuracy reaches 90% and the gradient check passes.
import Foundation
import NNGen

let examples = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

let model = Model("iris", input: .features(4), batch: 16, loss: .softmaxCrossEntropy,
                  optimizer: .adam(lr: 0.01), standardize: true) {
    Dense(16); ReLU(); Dense(3)
}

do {
    // Train as `nngen train` does: seed 1, 20% held out, inputs standardised, f32, libtcc.
    let data = try ModelDataset(csv: examples.appendingPathComponent("data/iris.csv").path, for: model)
    let trainer = try ModelTrainer(model, backend: .tcc)
    print("compiled \(model.name) in \(String(format: "%.0f", trainer.compileSeconds * 1000)) ms")
    let history = try trainer.fit(data, epochs: 50) { report in
        if report.epoch % 10 == 0 { print(report.line) }
    }
    let accuracy = history.final?.validation?.accuracy ?? 0
    print(String(format: "validation accuracy after %d epochs: %.2f%%", trainer.epochsCompleted, accuracy * 100))

    // A checkpoint in the CLI's format (`nngen predict`, `nngen train --resume` read it), read back.
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-consumer-\(getpid())")
    defer { try? FileManager.default.removeItem(at: scratch) }
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    let checkpoint = scratch.appendingPathComponent("iris.safetensors").path
    try trainer.save(checkpoint)
    let restored = try ModelTrainer(checkpoint: checkpoint)
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
    if classes != [0, 1, 2] { failures.append("the restored model predicts \(classes), not [0, 1, 2]") }
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
