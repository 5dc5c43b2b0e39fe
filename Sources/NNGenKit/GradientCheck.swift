import CodeGen
import Foundation
import JIT
import ModelSpec
import Reference

/// One row of a gradient check: a tensor compared between generated code and the reference.
public struct CheckRow: Sendable {
    /// `loss`, a parameter name, `input`, `init`, or `after K steps: NAME`.
    public var name: String
    /// max_i |generated_i - reference_i|.
    public var maxAbsoluteError: Double
    /// max_i |generated_i - reference_i| / max_i |reference_i|: the error relative to the
    /// tensor's largest magnitude (so elements near zero do not inflate it).
    public var maxRelativeError: Double
    /// The tolerance on the relative error.
    public var tolerance: Double
    /// The element with the largest absolute error (nil for an empty tensor).
    public var worst: WorstElement? = nil
    /// The first few elements of both sides (as llm.c's check prints them).
    public var firstGenerated: [Double] = []
    public var firstReference: [Double] = []
    /// The generated function that wrote the tensor (a kernel, `NAME_init`, `NAME_optimizer`).
    public var writer: String? = nil
    /// Whether the row passes.
    public var passed: Bool { maxRelativeError <= tolerance && maxRelativeError.isFinite }
}

/// Where a check row's largest error is: the element's index in the tensor's shape and flat,
/// and both values.
public struct WorstElement: Sendable, Equatable {
    /// The index in each dimension of the tensor's shape (`[3, 17]`).
    public var position: [Int]
    /// The index in the flat tensor.
    public var flatIndex: Int
    /// The generated code's value.
    public var generated: Double
    /// The reference interpreter's value.
    public var reference: Double
}

/// The outcome of `checkGradients` for one back end and scalar type.
public struct CheckReport: Sendable {
    public var backend: String
    public var scalar: ScalarType
    public var rows: [CheckRow]
    public var compileSeconds: Double
    public var passed: Bool { rows.allSatisfy(\.passed) }
}

/// Relative-error tolerances of `nngen check` (see README "Checking gradients").
public enum CheckTolerance {
    /// float64: the generated code and the reference differ only by rounding order.
    public static let f64 = 1e-10
    /// float32: 24-bit mantissas (eps 6e-8) summed over reductions of up to ~10^3-10^4 terms
    /// through several layers; a wrong formula gives errors of order 1.
    public static let f32 = 1e-4

    public static func forScalar(_ s: ScalarType) -> Double { s == .f32 ? f32 : f64 }
}

/// A deterministic batch for checks and benchmarks, drawn from `seed`: inputs uniform in
/// [-1, 1); labels uniform over the classes; regression targets uniform in [-1, 1);
/// bce targets 0 or 1.
public struct SyntheticBatch: Sendable {
    public var x: [Double]
    public var labels: [Int]?
    public var values: [Double]?

    public init(_ a: ModelAnalysis, seed: UInt64) {
        var rng = Xoshiro256StarStar(seed: seed ^ 0x5EED_BA7C_0000_0001)
        x = (0..<a.inputElements).map { _ in rng.uniform(-1, 1) }
        switch a.model.loss.targets {
        case .labels:
            labels = (0..<a.model.batch).map { _ in Int(rng.nextBelow(UInt64(a.outputCount))) }
        case .binary:
            values = (0..<a.targetElements).map { _ in rng.nextDouble() < 0.5 ? 0 : 1 }
        case .values:
            values = (0..<a.targetElements).map { _ in rng.uniform(-1, 1) }
        }
    }

    /// The targets as the reference interpreter takes them.
    public var targets: Targets { labels.map { .labels($0) } ?? .values(values ?? []) }

    /// Every value rounded to the scalar type, so both sides see the same numbers.
    public func rounded(to s: ScalarType) -> SyntheticBatch {
        guard s == .f32 else { return self }
        var b = self
        b.x = x.map { Double(Float($0)) }
        b.values = values?.map { Double(Float($0)) }
        return b
    }
}

/// Compares `a` (generated) with `b` (reference), elements of a tensor of `shape` (flat when
/// nil), written by `writer`.
func compare(_ name: String, _ a: [Double], _ b: [Double], tolerance: Double, shape: [Int]? = nil,
             writer: String? = nil) -> CheckRow {
    var maxAbs = 0.0, scale = 0.0, worstAt: Int? = nil
    for (i, (x, y)) in zip(a, b).enumerated() {
        let d = abs(x - y)
        if worstAt == nil || d.isNaN && !maxAbs.isNaN || d > maxAbs { worstAt = i }
        maxAbs = d.isNaN || maxAbs.isNaN ? .nan : max(maxAbs, d)
        scale = max(scale, abs(y))
    }
    if a.count != b.count { maxAbs = .infinity }
    let rel = maxAbs == 0 ? 0 : maxAbs / max(scale, Double.leastNormalMagnitude)
    var row = CheckRow(name: name, maxAbsoluteError: maxAbs, maxRelativeError: rel, tolerance: tolerance)
    if let i = worstAt {
        var position: [Int] = [], rest = i
        for d in (shape ?? [a.count]).reversed() {
            position.insert(rest % max(d, 1), at: 0)
            rest /= max(d, 1)
        }
        row.worst = WorstElement(position: position, flatIndex: i, generated: a[i], reference: b[i])
    }
    row.firstGenerated = Array(a.prefix(5))
    row.firstReference = Array(b.prefix(5))
    row.writer = writer
    return row
}

/// Builds the model with a back end, draws parameters and one batch from `seed`, runs the
/// generated forward and backward and the reference interpreter, and compares the loss, every
/// parameter gradient and the input gradient; also the generated `NAME_init` against the
/// reference's initialisation. With `steps > 0`, runs that many optimizer steps on both sides
/// and compares the parameters after them. `fusionRules` selects the fusion rules the code is
/// compiled with (all by default; fewer to check that fusion changes nothing).
public func checkGradients(_ analysis: ModelAnalysis, backend: any CBackend, scalar: ScalarType,
                           seed: UInt64 = 1, steps: Int = 0,
                           fusionRules: [FusionRule] = FusionRule.all) throws -> CheckReport {
    let tol = CheckTolerance.forScalar(scalar)
    let model = try CompiledModel(analysis: analysis, backend: backend,
                                  options: CompileOptions(scalar: scalar, fusionRules: fusionRules))
    let reference = ReferenceInterpreter(analysis)
    var rows: [CheckRow] = []

    // Initialisation: the generated NAME_init against the reference.
    model.initialize(seed: seed)
    let refInit = reference.initialParameters(seed: seed)
    let refInitRounded = scalar == .f32 ? refInit.map { Double(Float($0)) } : refInit
    let name = analysis.model.name, writers = model.compilation.code.gradientWriters
    rows.append(compare("init (same seed)", model.parameters, refInitRounded, tolerance: 0, writer: "\(name)_init"))

    // One forward and backward on the same numbers.
    let params = refInitRounded
    model.parameters = params
    let batch = SyntheticBatch(analysis, seed: seed).rounded(to: scalar)
    try model.setBatch(x: batch.x, labels: batch.labels, values: batch.values)
    let loss = model.forward()
    model.backward(inputGradient: true)
    let ref = try reference.gradients(parameters: params, input: batch.x, targets: batch.targets, inputGradient: true)
    rows.append(compare("loss", [loss], [ref.loss], tolerance: tol, writer: writers["loss"]))
    let grads = model.gradients
    for p in analysis.parameters {
        let range = p.offset..<(p.offset + p.count)
        rows.append(compare(p.name, Array(grads[range]), Array(ref.parameters[range]), tolerance: tol, shape: p.shape,
                            writer: writers[p.name]))
    }
    // A model with frozen parameters has no input gradient (its backward stops before them).
    if !analysis.hasFrozenParameters {
        rows.append(compare("input", model.inputGradient, ref.input ?? [], tolerance: tol,
                            shape: [analysis.model.batch] + analysis.model.input.shape.dimensions, writer: writers["x"]))
    }

    if steps > 0 {
        var refParams = params
        var opt = ReferenceOptimizer(analysis.model.optimizer, parameterCount: analysis.parameterCount)
        opt.trainable = analysis.hasFrozenParameters ? reference.trainableMask : nil
        let lr = analysis.model.optimizer.learningRate
        for _ in 0..<steps {
            model.trainStep(learningRate: lr)
            let g = try reference.gradients(parameters: refParams, input: batch.x, targets: batch.targets, inputGradient: false)
            try opt.update(parameters: &refParams, gradients: g.parameters)
        }
        let after = model.parameters
        rows.append(compare("parameters after \(steps) steps", after, refParams, tolerance: tol,
                            writer: "\(name)_optimizer"))
        // Frozen parameters: bit for bit the values they started with.
        let frozen = analysis.parameters.filter { !$0.trainable }
        if !frozen.isEmpty {
            let pick = { (v: [Double]) in frozen.flatMap { v[$0.offset..<($0.offset + $0.count)] } }
            rows.append(compare("frozen parameters after \(steps) steps (exact)", pick(after), pick(params), tolerance: 0,
                                writer: "\(name)_optimizer"))
        }
    }
    return CheckReport(backend: backend.name, scalar: scalar, rows: rows, compileSeconds: model.compileSeconds)
}
