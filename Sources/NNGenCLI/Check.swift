import ArgumentParser
import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit

/// Back ends on the command line.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case tcc, cc, both

    var backends: [any CBackend] {
        switch self {
        case .tcc: return [TCCBackend()]
        case .cc: return [CCBackend()]
        case .both: return [TCCBackend(), CCBackend()]
        }
    }
}

/// Scalar types on the command line: one `ScalarType` (by its name) or both.
enum DTypeChoice: String, ExpressibleByArgument, CaseIterable {
    case f32, f64, both

    var scalars: [ScalarType] { ScalarType(rawValue: rawValue).map { [$0] } ?? ScalarType.allCases }
}

/// `nngen check MODEL`: generated gradients against the reference interpreter.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the generated code's loss and gradients with the reference interpreter.",
        discussion: """
        Draws parameters and one batch from the seed, runs the generated forward and backward and the \
        Swift reference interpreter (float64), and prints one row per tensor: the max absolute error, \
        the max relative error (relative to the tensor's largest magnitude) and pass/fail against the \
        tolerance: \(CheckTolerance.f64) for float64, \(CheckTolerance.f32) for float32 (see README). \
        Exits 0 only if every row passes.
        """)

    @Argument(help: "The model file (JSON).")
    var model: String

    @Option(help: "Back end: both (the default: each build is checked; no auto here), tcc or cc.")
    var backend: BackendChoice = .both

    @Option(help: "Scalar type: f32, f64 or both.")
    var dtype: DTypeChoice = .both

    @Option(parsing: .unconditional, help: "Seed for the parameters and the batch.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Also run this many optimizer steps on both sides and compare the parameters.")
    var steps: Int = 0

    @Flag(help: "Check the code compiled with no fusion rule (one kernel per primitive node).")
    var noFusion = false

    func validate() throws {
        guard steps >= 0 else { throw ValidationError("--steps must be 0 or more (got \(steps))") }
    }

    func run() throws {
        let analysis = try loadModel(model)
        for s in dtype.scalars { try analysis.validate(for: s) }
        var allPassed = true
        for b in backend.backends {
            for s in dtype.scalars {
                let report = try checkGradients(analysis, backend: b, scalar: s, seed: seed, steps: steps,
                                                fusionRules: noFusion ? [] : FusionRule.all)
                print(formatCheckReport(report, model: analysis.model.name))
                allPassed = allPassed && report.passed
            }
        }
        if !allPassed {
            FileHandle.standardError.write(Data("error: some gradients do not match the reference (rows marked FAIL)\n".utf8))
            throw ExitCode(1)
        }
    }
}
