import XCTest
import ModelSpec
@testable import Reference

/// Analyses a model built from explicit layers (an invalid one throws its validation error,
/// which fails the test with the message).
func analyze(_ name: String, input: InputShape, batch: Int, loss: Loss, optimizer: Optimizer = .adam(),
             trainable: [String: Trainable] = [:], _ layers: [Layer]) throws -> ModelAnalysis {
    try Model(name: name, input: input, batch: batch, layers: layers, loss: loss, optimizer: optimizer,
              trainable: trainable).analyze()
}

/// `count` draws from `U(lo, hi)`.
func uniformValues(_ count: Int, _ lo: Double, _ hi: Double, _ rng: inout Xoshiro256StarStar) -> [Double] {
    (0..<count).map { _ in rng.uniform(lo, hi) }
}

/// Random targets of the right kind for the model's loss: labels for softmax cross-entropy,
/// values in [-1, 1] for mse and huber, 0/1 with every third a fraction for bce_with_logits.
func randomTargets(_ a: ModelAnalysis, rows: Int, _ rng: inout Xoshiro256StarStar) -> Targets {
    let outputs = a.outputCount
    switch a.model.loss {
    case .softmaxCrossEntropy:
        return .labels((0..<rows).map { _ in Int(rng.nextBelow(UInt64(outputs))) })
    case .mse, .huber:
        return .values(uniformValues(rows * outputs, -1, 1, &rng))
    case .bceWithLogits:
        return .values((0..<(rows * outputs)).map { i in i % 3 == 2 ? rng.uniform(0, 1) : Double(rng.nextBelow(2)) })
    }
}

/// The smallest distance, over one forward pass, of any relu/leaky_relu input to the kink at 0
/// and of any maxpool window's largest value to its runner-up (a tie). Finite differences
/// are only valid when this is well above the step.
func kinkDistance(_ interpreter: ReferenceInterpreter, parameters: [Double], input: [Double]) throws -> Double {
    var distance = Double.infinity
    for entry in try interpreter.trace(parameters: parameters, input: input) {
        switch entry.layer.layer {
        case .activation(.relu), .activation(.leakyReLU):
            for x in entry.input { distance = min(distance, abs(x)) }
        case .maxPool1d(let kernel, let stride):
            guard case .sequence(let length, let channels) = entry.layer.input else { continue }
            let rows = entry.input.count / (length * channels)
            let outLength = (length - kernel) / stride + 1
            for r in 0..<rows {
                for t in 0..<outLength {
                    for c in 0..<channels {
                        let window = (0..<kernel).map { entry.input[(r * length + t * stride + $0) * channels + c] }
                            .sorted(by: >)
                        if window.count > 1 { distance = min(distance, window[0] - window[1]) }
                    }
                }
            }
        default:
            break
        }
    }
    return distance
}

/// The result of comparing analytic gradients with central finite differences.
struct GradientCheck {
    /// Per tensor (each parameter by name, then "input"): `max |g - fd| / max(max |fd|, 1e-8)`.
    var errors: [(tensor: String, error: Double)]
    /// The largest of `errors`.
    var worst: (tensor: String, error: Double) {
        errors.max { $0.error < $1.error } ?? ("none", 0)
    }
}

/// Central differences `(L(p + h e_i) - L(p - h e_i)) / 2h` of the loss for every parameter
/// and every input element, compared tensor by tensor with `gradients`.
func checkGradients(_ interpreter: ReferenceInterpreter, parameters: [Double], input: [Double],
                    targets: Targets, h: Double) throws -> GradientCheck {
    let g = try interpreter.gradients(parameters: parameters, input: input, targets: targets)
    func relativeError(_ analytic: [Double], _ numeric: [Double]) -> Double {
        let scale = max(numeric.map(abs).max() ?? 0, 1e-8)
        return zip(analytic, numeric).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
    }
    var errors: [(String, Double)] = []
    for p in interpreter.analysis.parameters {
        var numeric: [Double] = []
        for i in p.offset..<(p.offset + p.count) {
            var plus = parameters, minus = parameters
            plus[i] += h
            minus[i] -= h
            let lp = try interpreter.loss(parameters: plus, input: input, targets: targets)
            let lm = try interpreter.loss(parameters: minus, input: input, targets: targets)
            numeric.append((lp - lm) / (2 * h))
        }
        // A frozen parameter has no gradient: the expected one is 0, whatever the loss's slope.
        let expected = p.trainable ? numeric : [Double](repeating: 0, count: p.count)
        errors.append((p.name, relativeError(Array(g.parameters[p.offset..<(p.offset + p.count)]), expected)))
    }
    var numeric: [Double] = []
    for i in 0..<input.count {
        var plus = input, minus = input
        plus[i] += h
        minus[i] -= h
        let lp = try interpreter.loss(parameters: parameters, input: plus, targets: targets)
        let lm = try interpreter.loss(parameters: parameters, input: minus, targets: targets)
        numeric.append((lp - lm) / (2 * h))
    }
    errors.append(("input", relativeError(g.input ?? [], numeric)))
    return GradientCheck(errors: errors)
}

/// Asserts that every element of `actual` is within `tolerance` of `expected` (and that the
/// counts agree).
func assertClose(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-12, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "count \(message)", file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated() where !(abs(a - e) <= tolerance) {
        XCTFail("element \(i): \(a) != \(e) (tolerance \(tolerance)) \(message)", file: file, line: line)
    }
}

/// Asserts `actual` is within `tolerance` of `expected`.
func assertClose(_ actual: Double, _ expected: Double, tolerance: Double = 1e-12, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssert(abs(actual - expected) <= tolerance, "\(actual) != \(expected) (tolerance \(tolerance)) \(message)",
              file: file, line: line)
}

/// Runs `body` expecting a `ReferenceError` whose description contains every fragment.
func assertReferenceError<T>(_ body: () throws -> T, equals expected: ReferenceError? = nil, mentions fragments: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected a ReferenceError", file: file, line: line)
    } catch let error as ReferenceError {
        if let expected { XCTAssertEqual(error, expected, file: file, line: line) }
        for fragment in fragments {
            XCTAssert(error.description.contains(fragment), "\"\(error.description)\" does not mention \"\(fragment)\"",
                      file: file, line: line)
        }
    } catch {
        XCTFail("expected a ReferenceError, got \(error)", file: file, line: line)
    }
}
