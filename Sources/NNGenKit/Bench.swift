import CodeGen
import Foundation
import JIT
import ModelSpec

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `runBenchmark` measures and how (docs/BENCHMARKS.md "What to report").
public struct BenchOptions: Sendable {
    /// `"tcc"` or `"cc"`.
    public var backend: String
    /// The scalar type (the reference workloads are float32).
    public var scalar: ScalarType
    /// Threads for the big products (cc back end only; 1 means no OpenMP at all).
    public var threads: Int
    /// At least this many timed steps...
    public var minSteps: Int
    /// ...and at least this many seconds of timed steps.
    public var minSeconds: Double
    /// Untimed steps before timing starts.
    public var warmupSteps: Int
    /// Seed of the parameters and of the synthetic batch.
    public var seed: UInt64

    /// The defaults are docs/BENCHMARKS.md's: float32, one thread, at least 200 steps and 2 seconds.
    public init(backend: String = "cc", scalar: ScalarType = .f32, threads: Int = 1, minSteps: Int = 200,
                minSeconds: Double = 2, warmupSteps: Int = 20, seed: UInt64 = 1) {
        self.backend = backend
        self.scalar = scalar
        self.threads = threads
        self.minSteps = minSteps
        self.minSeconds = minSeconds
        self.warmupSteps = warmupSteps
        self.seed = seed
    }
}

/// The numbers `nngen bench` reports for one model, back end and thread count.
public struct BenchResult: Sendable {
    /// The model's name.
    public var model: String
    /// `"tcc"` or `"cc"`.
    public var backend: String
    /// Threads the products were shared among.
    public var threads: Int
    /// The scalar type of the generated code.
    public var scalar: ScalarType
    /// Milliseconds from model analysis to callable functions (C generation and compilation).
    public var compileMilliseconds: Double
    /// Of which: generating the C text (lower, differentiate, fuse, plan, emit), timed again on its own.
    public var codegenMilliseconds: Double
    /// Median wall time of one training step (forward, backward, update), microseconds.
    public var stepMicrosecondsMedian: Double
    /// The fastest step, microseconds.
    public var stepMicrosecondsMin: Double
    /// Timed steps.
    public var steps: Int
    /// Training samples per second at the median step time.
    public var samplesPerSecond: Double
    /// FLOPs of one step by the docs/BENCHMARKS.md formula.
    public var stepFLOPs: Int
    /// FLOPs of the products one step runs (the formula less the skipped input-gradient
    /// products: `Compilation.performedTrainingStepFLOPs`).
    public var performedFLOPs: Int
    /// `stepFLOPs` (`ModelAnalysis.trainingStepFLOPs`) divided by the median step time, in GFLOP/s.
    public var gflops: Double { Double(stepFLOPs) / (stepMicrosecondsMedian * 1e3) }
    /// `performedFLOPs` divided by the median step time, in GFLOP/s: comparable with the
    /// machine's multiply-add ceiling.
    public var performedGFLOPs: Double { Double(performedFLOPs) / (stepMicrosecondsMedian * 1e3) }
    /// Bytes of the arena (activations, scratch, predict's padded input).
    public var arenaBytes: Int
    /// Bytes of parameters + gradients + optimizer state + arena.
    public var totalBytes: Int
    /// Bytes of the parameters alone (`totalBytes` less them: what training costs beyond the model).
    public var parameterBytes: Int = 0
    /// The process's peak resident set size so far (getrusage), bytes.
    public var peakRSSBytes: Int
    /// The loss of the last timed step (finite when the run was sane).
    public var lastLoss: Double

    /// One JSON object with the keys documented for `nngen bench --json`.
    public var json: String {
        func num(_ v: Double) -> String { v.isFinite ? String(format: "%.6g", v) : "null" }
        let fields: [(String, String)] = [
            ("model", "\"\(model)\""), ("backend", "\"\(backend)\""), ("threads", "\(threads)"),
            ("dtype", "\"\(scalar.rawValue)\""),
            ("compile_ms", num(compileMilliseconds)), ("codegen_ms", num(codegenMilliseconds)),
            ("step_us_median", num(stepMicrosecondsMedian)), ("step_us_min", num(stepMicrosecondsMin)),
            ("steps", "\(steps)"), ("samples_per_s", num(samplesPerSecond)), ("gflops", num(gflops)),
            ("step_flops", "\(stepFLOPs)"), ("performed_flops", "\(performedFLOPs)"),
            ("gflops_performed", num(performedGFLOPs)),
            ("arena_bytes", "\(arenaBytes)"), ("total_bytes", "\(totalBytes)"), ("params_bytes", "\(parameterBytes)"),
            ("peak_rss_bytes", "\(peakRSSBytes)"), ("last_loss", num(lastLoss)),
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// A few lines for people.
    public var text: String {
        """
        \(model): backend \(backend), \(scalar.rawValue), \(threads) thread\(threads == 1 ? "" : "s")
          compile          \(String(format: "%.1f", compileMilliseconds)) ms (model to callable; generating the C: \(String(format: "%.1f", codegenMilliseconds)) ms)
          step             median \(String(format: "%.1f", stepMicrosecondsMedian)) us, min \(String(format: "%.1f", stepMicrosecondsMin)) us over \(steps) steps
          throughput       \(String(format: "%.0f", samplesPerSecond)) samples/s, \(String(format: "%.2f", gflops)) GFLOP/s (\(String(format: "%.3g", Double(stepFLOPs) / 1e6)) MFLOP per step by docs/BENCHMARKS.md; the \(String(format: "%.3g", Double(performedFLOPs) / 1e6)) MFLOP it runs: \(String(format: "%.2f", performedGFLOPs)) GFLOP/s)
          memory           arena \(arenaBytes) B, params+grads+opt state+arena \(totalBytes) B, peak RSS \(peakRSSBytes) B
        """
    }
}

/// An option of `runBenchmark` that cannot work (names the option and what would).
public struct BenchError: Error, CustomStringConvertible, Sendable {
    /// What was wrong and what would work.
    public var message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The back end a benchmark uses: the cc back end gets `-fopenmp -DNN_THREADS=N` when more
/// than one thread is asked for.
public func benchBackend(_ name: String, threads: Int) throws -> any CBackend {
    guard threads >= 1 else { throw BenchError("--threads must be 1 or more (got \(threads))") }
    switch name {
    case "tcc":
        guard threads == 1 else {
            throw BenchError("--threads \(threads) needs the cc back end (tcc has no OpenMP); use --backend cc or --threads 1")
        }
        return TCCBackend()
    case "cc":
        // -z nodelete: dlclose must not unmap the library (and libgomp with it) while OpenMP's
        // worker threads, which outlive the parallel regions, still run its code.
        return threads == 1 ? CCBackend()
            : CCBackend().adding(flags: ["-fopenmp", "-DNN_THREADS=\(threads)", "-Wl,-z,nodelete"])
    default:
        throw BenchError("unknown back end '\(name)'; expected tcc or cc")
    }
}

extension Compilation {
    /// The multiply-adds, times 2, of the products a training step actually runs: the
    /// docs/BENCHMARKS.md count (`ModelAnalysis.trainingStepFLOPs`, 3 x the forward products) less the
    /// input-gradient products `train_step` skips (it asks for no gradient of the input). Such a
    /// product has as many multiply-adds as its layer's forward product.
    /// With frozen parameters it is `ModelAnalysis.trainableStepFLOPs` (no weight gradient for a
    /// frozen weight, no input gradient before the first trainable parameter).
    public var performedTrainingStepFLOPs: Int {
        if analysis.hasFrozenParameters { return analysis.trainableStepFLOPs }
        let skippedLayers = Set(fused.nodes.filter { n in
            guard n.inputGradientOnly else { return false }
            switch n.kind {
            case .matmulGradInput, .conv1dGradInput: return true
            default: return false
            }
        }.map(\.layerPath))
        let skipped = analysis.layers.filter { skippedLayers.contains($0.path) }.reduce(0) { $0 + $1.forwardFLOPs }
        return analysis.trainingStepFLOPs - skipped
    }
}

/// Compiles the model, then times training steps on one synthetic batch (SyntheticBatch from
/// the seed, parameters from `NAME_init`) after `warmupSteps` untimed steps, until both
/// `minSteps` and `minSeconds` are reached. Each step is timed on its own (monotonic clock).
/// Every 100 steps the parameters are drawn again from the same seed (untimed), so the run
/// repeats the same 100 steps and a long run on one batch never drives the loss and the
/// gradients towards zero or denormals (W4 reaches a loss of 1e-12 within 200 steps).
public func runBenchmark(_ analysis: ModelAnalysis, options: BenchOptions) throws -> BenchResult {
    guard options.minSteps >= 1 else { throw BenchError("--steps must be 1 or more (got \(options.minSteps))") }
    try analysis.validate(for: options.scalar)
    let backend = try benchBackend(options.backend, threads: options.threads)
    let model = try CompiledModel(analysis: analysis, backend: backend, scalar: options.scalar)
    let codegenStart = monotonicSeconds()
    _ = compile(analysis, options: CompileOptions(scalar: options.scalar))
    let codegen = monotonicSeconds() - codegenStart
    model.initialize(seed: options.seed)
    let batch = SyntheticBatch(analysis, seed: options.seed).rounded(to: options.scalar)
    try model.setBatch(x: batch.x, labels: batch.labels, values: batch.values)
    let lr = analysis.model.optimizer.learningRate
    for _ in 0..<options.warmupSteps { model.trainStep(learningRate: lr) }

    var samples: [Double] = []
    samples.reserveCapacity(max(options.minSteps, 1024))
    var elapsed = 0.0
    var loss = 0.0
    while samples.count < options.minSteps || elapsed < options.minSeconds {
        if samples.count % 100 == 0 { model.initialize(seed: options.seed) }
        let t0 = monotonicSeconds()
        loss = model.trainStep(learningRate: lr)
        let dt = monotonicSeconds() - t0
        samples.append(dt)
        elapsed += dt
    }
    samples.sort()
    let median = samples.count % 2 == 1 ? samples[samples.count / 2]
        : (samples[samples.count / 2 - 1] + samples[samples.count / 2]) / 2
    let s = options.scalar.size
    let arenaBytes = model.compilation.code.arenaElements * s
    let stateBytes = (analysis.parameterCount + analysis.gradientCount + analysis.optimizerStateElements) * s
    return BenchResult(
        model: analysis.model.name, backend: backend.name, threads: options.threads, scalar: options.scalar,
        compileMilliseconds: model.compileSeconds * 1000, codegenMilliseconds: codegen * 1000,
        stepMicrosecondsMedian: median * 1e6, stepMicrosecondsMin: samples[0] * 1e6, steps: samples.count,
        samplesPerSecond: Double(analysis.model.batch) / median,
        stepFLOPs: analysis.trainingStepFLOPs, performedFLOPs: model.compilation.performedTrainingStepFLOPs,
        arenaBytes: arenaBytes, totalBytes: stateBytes + arenaBytes, parameterBytes: analysis.parameterCount * s,
        peakRSSBytes: peakResidentBytes(), lastLoss: loss)
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// The process's peak resident set size in bytes (`getrusage`; kilobytes on Linux, bytes on macOS).
public func peakResidentBytes() -> Int {
    var usage = rusage()
    #if os(macOS)
    guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
    return Int(usage.ru_maxrss)
    #else
    guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
    return Int(usage.ru_maxrss) * 1024
    #endif
}
