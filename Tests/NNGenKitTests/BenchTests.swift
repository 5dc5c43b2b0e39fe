import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// `runBenchmark` (what `nngen bench` prints): the numbers are consistent with each other and
/// with the model, the JSON has the documented keys, and bad options are refused with messages.
final class BenchTests: XCTestCase {
    func tinyModel() throws -> ModelAnalysis {
        try analyzeTestModel("bench_tiny", input: .features(8), batch: 4, loss: .softmaxCrossEntropy,
                             optimizer: .sgd(lr: 0.01), [.dense(units: 16), .activation(.relu), .dense(units: 3)])
    }

    func testNumbersAreConsistent() throws {
        let a = try tinyModel()
        let r = try runBenchmark(a, options: BenchOptions(backend: "tcc", scalar: .f32, minSteps: 250, minSeconds: 0,
                                                          warmupSteps: 2))
        XCTAssertEqual(r.steps, 250)
        XCTAssertEqual(r.backend, "tcc")
        XCTAssertEqual(r.stepFLOPs, 3 * 2 * 4 * (8 * 16 + 16 * 3))  // docs/BENCHMARKS.md: 3 x forward 2*M*N*K
        XCTAssertEqual(r.performedFLOPs, r.stepFLOPs - 2 * 4 * 8 * 16)  // the first layer's dx is not computed
        XCTAssertEqual(r.performedGFLOPs, Double(r.performedFLOPs) / (r.stepMicrosecondsMedian * 1e3),
                       accuracy: r.performedGFLOPs * 1e-9)
        XCTAssertLessThanOrEqual(r.stepMicrosecondsMin, r.stepMicrosecondsMedian)
        XCTAssertGreaterThan(r.stepMicrosecondsMin, 0)
        XCTAssertEqual(r.gflops, Double(r.stepFLOPs) / (r.stepMicrosecondsMedian * 1e3), accuracy: r.gflops * 1e-9)
        XCTAssertEqual(r.samplesPerSecond, 4 / (r.stepMicrosecondsMedian * 1e-6), accuracy: r.samplesPerSecond * 1e-9)
        let code = compile(a, options: CompileOptions(scalar: .f32)).code
        XCTAssertEqual(r.arenaBytes, code.arenaElements * 4)
        XCTAssertEqual(r.totalBytes, (2 * a.parameterCount + 0) * 4 + r.arenaBytes)
        XCTAssertGreaterThan(r.peakRSSBytes, r.totalBytes)
        XCTAssertTrue(r.lastLoss.isFinite && r.lastLoss > 0)
        // Both are times (the C generation is timed on its own, apart from the model's compilation,
        // so on a loaded machine either may come out larger): only their presence is asserted.
        XCTAssertGreaterThan(r.compileMilliseconds, 0)
        XCTAssertGreaterThan(r.codegenMilliseconds, 0)
    }

    /// The work a step of each reference workload runs: docs/BENCHMARKS.md's count less the input
    /// gradient of the first layer where train_step skips it (W4 starts with a layernorm, whose
    /// parameters need the first product's dx).
    func testPerformedFLOPsOfTheWorkloads() throws {
        let expected = [
            "w1_digits_mlp": 3_268_608 - 2 * 32 * 64 * 128,
            "w2_mnist_mlp": 513_540_096 - 2 * 128 * 784 * 512,
            "w3_conv1d_ln": 82_575_360 - 2 * 32 * 64 * 32 * 8 * 5,
            "w4_resmlp": 402_751_488,
            // Frozen variants: the forward, the last dense layer's weight gradient (W4 256 -> 1,
            // W3 2048 -> 10), and for bias-only every input gradient after the first layer's bias.
            "w4_resmlp_last": 402_751_488 / 3 + 2 * 64 * 256 * 1,
            "w4_resmlp_bias": 2 * (402_751_488 / 3),
            "w3_conv1d_ln_last": 82_575_360 / 3 + 2 * 32 * 2048 * 10,
            "w3_conv1d_ln_bias": 82_575_360 / 3 + 2 * 32 * 64 * 32 * 32 * 5 + 2 * 32 * 2048 * 10,
        ]
        let models = try exampleModelFiles(bench: true)
        XCTAssertEqual(models.count, 8)
        for a in models {
            let c = compile(a, options: CompileOptions(scalar: .f32))
            XCTAssertEqual(c.performedTrainingStepFLOPs, expected[a.model.name], a.model.name)
        }
    }

    func testJSONHasTheDocumentedKeys() throws {
        let r = try runBenchmark(try tinyModel(), options: BenchOptions(backend: "tcc", minSteps: 3, minSeconds: 0,
                                                                        warmupSteps: 0))
        let object = try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as? [String: Any]
        let keys = Set(object?.keys.map { $0 } ?? [])
        for k in ["compile_ms", "step_us_median", "step_us_min", "samples_per_s", "gflops", "arena_bytes",
                  "total_bytes", "params_bytes", "peak_rss_bytes", "backend", "threads", "performed_flops", "gflops_performed"] {
            XCTAssertTrue(keys.contains(k), "missing \(k) in \(r.json)")
        }
        XCTAssertEqual(object?["backend"] as? String, "tcc")
        XCTAssertEqual(object?["threads"] as? Int, 1)
        XCTAssertEqual(object?["arena_bytes"] as? Int, r.arenaBytes)
    }

    func testBadOptionsAreRefused() throws {
        XCTAssertThrowsError(try benchBackend("tcc", threads: 2)) { e in
            XCTAssertEqual("\(e)", "--threads 2 needs the cc back end (tcc has no OpenMP); use --backend cc or --threads 1")
        }
        XCTAssertThrowsError(try benchBackend("gcc", threads: 1)) { e in
            XCTAssertEqual("\(e)", "unknown back end 'gcc'; expected tcc or cc")
        }
        XCTAssertThrowsError(try benchBackend("cc", threads: 0)) { e in
            XCTAssertEqual("\(e)", "--threads must be 1 or more (got 0)")
        }
        let cc2 = try benchBackend("cc", threads: 2) as? CCBackend
        XCTAssertEqual(cc2?.extraFlags, ["-fopenmp", "-DNN_THREADS=2", "-Wl,-z,nodelete"])
    }
}
