import ArgumentParser
import CodeGen
import Foundation
import ModelSpec
import NNGenKit

/// `nngen bench MODEL`: compile time, step time, throughput and memory of one training step.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the model's training step (forward, backward, update) on one synthetic batch.",
        discussion: """
        Compiles the model (the time from model to callable functions is reported), runs warm-up steps, \
        then times single training steps on one batch drawn from the seed until at least --steps steps \
        and --min-seconds seconds have run. Reports the median and minimum microseconds per step, \
        samples/s, GFLOP/s by the docs/BENCHMARKS.md formula (3 x the forward products' 2*M*N*K), the arena \
        and total bytes (params + grads + optimizer state + arena) and the process's peak RSS. \
        --threads N > 1 compiles with OpenMP (cc back end only); results do not depend on N.
        """)

    @Argument(help: "The model file (JSON).")
    var model: String

    @Option(help: "Back end: cc (the default: a benchmark times the optimised build; no auto here, docs/BENCHMARKS.md quotes cc) or tcc.")
    var backend: String = "cc"

    @Option(help: "Scalar type: f32 or f64.")
    var dtype: ScalarType = .f32

    @Option(parsing: .unconditional, help: "Threads for the big products (cc back end only).")
    var threads: Int = 1

    @Option(parsing: .unconditional, help: "Time at least this many steps.")
    var steps: Int = 200

    @Option(parsing: .unconditional, help: "Time steps for at least this many seconds.")
    var minSeconds: Double = 2

    @Option(parsing: .unconditional, help: "Untimed steps before timing.")
    var warmup: Int = 20

    @Option(parsing: .unconditional, help: "Seed for the parameters and the batch.")
    var seed: UInt64 = 1

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard ["tcc", "cc"].contains(backend) else { throw ValidationError("--backend must be tcc or cc (got '\(Messages.shown(backend))')") }
        guard threads >= 1 else { throw ValidationError("--threads must be 1 or more (got \(threads))") }
        guard steps >= 1 else { throw ValidationError("--steps must be 1 or more (got \(steps))") }
        guard minSeconds >= 0 && minSeconds.isFinite else {
            throw ValidationError("--min-seconds must be 0 or more (got \(formatLR(minSeconds)))")
        }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more (got \(warmup))") }
        guard backend == "cc" || threads == 1 else {
            throw ValidationError("--threads \(threads) needs --backend cc (tcc has no OpenMP)")
        }
    }

    func run() throws {
        let analysis = try loadModel(model)
        let options = BenchOptions(backend: backend, scalar: dtype, threads: threads, minSteps: steps,
                                   minSeconds: minSeconds, warmupSteps: warmup, seed: seed)
        let result: BenchResult
        do {
            result = try runBenchmark(analysis, options: options)
        } catch let e as BenchError {
            throw UserError(e.message)
        }
        print(json ? result.json : result.text)
    }
}
