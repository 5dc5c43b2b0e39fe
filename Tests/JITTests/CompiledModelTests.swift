import CodeGen
import Foundation
import JIT
import ModelSpec
import Reference
import XCTest

/// `CompiledModel`: the buffers it owns and every call of the generated API, checked against the
/// reference interpreter (float64 results within 1e-12 relative, unless stated).
final class CompiledModelTests: XCTestCase {
    func analysis(_ loss: Loss = .softmaxCrossEntropy, optimizer: Optimizer = .adam(lr: 0.01)) throws -> ModelAnalysis {
        let outputs = loss == .softmaxCrossEntropy ? 3 : 2
        return try Model(name: "cm_\(loss.typeName)", input: .features(4), batch: 3,
                         layers: [.dense(units: 5), .activation(.tanh), .dense(units: outputs)], loss: loss, optimizer: optimizer).analyze()
    }

    /// The batch used below: inputs in [-1, 1), labels or targets by loss.
    func batch(_ a: ModelAnalysis) -> (x: [Double], labels: [Int]?, values: [Double]?, targets: Targets) {
        var rng = Xoshiro256StarStar(seed: 5)
        let x = (0..<a.inputElements).map { _ in rng.uniform(-1, 1) }
        if a.model.loss.usesLabels {
            let l = [2, 0, 1]
            return (x, l, nil, .labels(l))
        }
        let v = (0..<a.targetElements).map { _ in Double(rng.nextBelow(2)) }
        return (x, nil, v, .values(v))
    }

    func assertClose(_ a: [Double], _ b: [Double], _ tolerance: Double = 1e-12, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = max(b.map(abs).max() ?? 0, 1e-300)
        let err = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(err / scale, tolerance, "\(what): \(a) vs \(b)", file: file, line: line)
    }

    func testInitializeMatchesTheReferenceAndResetsState() throws {
        let a = try analysis()
        let m = try CompiledModel(analysis: a, backend: TCCBackend(), scalar: .f64)
        XCTAssertEqual(m.backendName, "tcc")
        XCTAssertEqual(m.scalar, .f64)
        XCTAssertGreaterThan(m.compileSeconds, 0)
        m.initialize(seed: 9)
        XCTAssertEqual(m.parameters, ReferenceInterpreter(a).initialParameters(seed: 9))
        let first = m.parameters
        m.initialize(seed: 10)
        XCTAssertNotEqual(m.parameters, first)
        // After a step, initialize resets the step count and the optimizer state.
        let b = batch(a)
        try m.setBatch(x: b.x, labels: b.labels)
        m.trainStep(learningRate: 0.01)
        XCTAssertEqual(m.step, 1)
        XCTAssertTrue(m.optimizerState.contains { $0 != 0 })
        m.initialize(seed: 9)
        XCTAssertEqual(m.step, 0)
        XCTAssertEqual(m.optimizerState, [Double](repeating: 0, count: a.optimizerStateElements))
        XCTAssertEqual(m.parameters, first)
    }

    func testFloat32ParametersAreRounded() throws {
        let a = try analysis()
        let m = try CompiledModel(analysis: a, backend: TCCBackend(), scalar: .f32)
        let values = (0..<a.parameterCount).map { 0.1 + Double($0) / 3 }
        m.parameters = values
        XCTAssertEqual(m.parameters, values.map { Double(Float($0)) })
        m.initialize(seed: 9)
        XCTAssertEqual(m.parameters, ReferenceInterpreter(a).initialParameters(seed: 9).map { Double(Float($0)) })
    }

    func testForwardBackwardMatchTheReferenceForEveryLoss() throws {
        for loss in Loss.allCases {
            let a = try analysis(loss)
            let m = try CompiledModel(analysis: a, backend: TCCBackend(), scalar: .f64)
            m.initialize(seed: 4)
            let params = m.parameters
            let b = batch(a)
            try m.setBatch(x: b.x, labels: b.labels, values: b.values)
            let ref = try ReferenceInterpreter(a).gradients(parameters: params, input: b.x, targets: b.targets)
            let loss = m.forward()
            assertClose([loss], [ref.loss], 1e-12, "\(a.model.name) loss")
            assertClose(m.outputs, ref.output, 1e-12, "\(a.model.name) outputs")
            // Without the input gradient the dx buffer is not written (it starts zeroed).
            m.backward(inputGradient: false)
            assertClose(m.gradients, ref.parameters, 1e-12, "\(a.model.name) gradients")
            XCTAssertEqual(m.inputGradient, [Double](repeating: 0, count: a.inputElements))
            // Backward may reuse the memory of what forward kept once it has read it, so each
            // backward needs its own forward first.
            XCTAssertEqual(m.forward(), loss)
            m.backward(inputGradient: true)
            assertClose(m.gradients, ref.parameters, 1e-12, "\(a.model.name) gradients again")
            assertClose(m.inputGradient, ref.input ?? [], 1e-12, "\(a.model.name) input gradient")
        }
    }

    func testTrainStepAndUpdateFollowTheReferenceOptimizer() throws {
        for optimizer in [Optimizer.sgd(lr: 0.1, momentum: 0.9), .adamw(lr: 0.01)] {
            let a = try analysis(.mse, optimizer: optimizer)
            let m = try CompiledModel(analysis: a, backend: TCCBackend(), scalar: .f64)
            m.initialize(seed: 2)
            let b = batch(a)
            try m.setBatch(x: b.x, values: b.values)
            let ref = ReferenceInterpreter(a)
            var p = m.parameters
            var opt = ReferenceOptimizer(optimizer, parameterCount: a.parameterCount)
            for k in 1...3 {
                let g = try ref.gradients(parameters: p, input: b.x, targets: b.targets, inputGradient: false)
                let loss = m.trainStep(learningRate: optimizer.learningRate)
                assertClose([loss], [g.loss], 1e-12, "\(optimizer.typeName) loss before step \(k)")
                try opt.update(parameters: &p, gradients: g.parameters)
                XCTAssertEqual(m.step, Int64(k))
                assertClose(m.parameters, p, 1e-12, "\(optimizer.typeName) parameters after step \(k)")
            }
            // forward + backward + update is the same as trainStep.
            let g = try ref.gradients(parameters: p, input: b.x, targets: b.targets, inputGradient: false)
            m.forward()
            m.backward()
            m.update(learningRate: optimizer.learningRate)
            try opt.update(parameters: &p, gradients: g.parameters)
            XCTAssertEqual(m.step, 4)
            assertClose(m.parameters, p, 1e-12, "\(optimizer.typeName) after update")
        }
    }

    func testAdamStateAfterOneStep() throws {
        let a = try analysis(optimizer: .adam(lr: 0.01, beta1: 0.9, beta2: 0.999))
        let m = try CompiledModel(analysis: a, backend: TCCBackend(), scalar: .f64)
        m.initialize(seed: 1)
        let b = batch(a)
        try m.setBatch(x: b.x, labels: b.labels)
        m.forward()
        m.backward()
        let g = m.gradients
        m.update(learningRate: 0.01)
        // m = (1 - beta1) g, then v = (1 - beta2) g^2.
        let state = m.optimizerState
        XCTAssertEqual(state.count, 2 * a.parameterCount)
        assertClose(Array(state[0..<a.parameterCount]), g.map { 0.1 * $0 }, 1e-12, "m")
        assertClose(Array(state[a.parameterCount...]), g.map { 0.001 * $0 * $0 }, 1e-12, "v")
        // Writing the state back is possible (resuming).
        m.optimizerState = state.map { $0 * 2 }
        assertClose(m.optimizerState, state.map { $0 * 2 }, 0, "state written back")
    }

    func testPredictMatchesTheReferenceForOneRowAndAFullBatch() throws {
        for backend in [TCCBackend() as any CBackend, CCBackend()] {
            let a = try analysis()
            let m = try CompiledModel(analysis: a, backend: backend, scalar: .f64)
            m.initialize(seed: 6)
            let b = batch(a)
            let ref = ReferenceInterpreter(a)
            let full = try m.predict(b.x, rows: 3)
            assertClose(full, try ref.forward(parameters: m.parameters, input: b.x), 1e-12, "\(backend.name) predict 3")
            let one = try m.predict(Array(b.x[0..<4]), rows: 1)
            assertClose(one, try ref.forward(parameters: m.parameters, input: Array(b.x[0..<4]), batch: 1), 1e-12,
                        "\(backend.name) predict 1")
            XCTAssertEqual(one, Array(full[0..<3]))
        }
    }

    func testWrongSizesAreErrorsWithMessages() throws {
        let a = try analysis()
        let m = try CompiledModel(analysis: a, backend: TCCBackend(), scalar: .f64)
        let b = batch(a)
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message { try m.setBatch(x: [1, 2], labels: b.labels) },
                       "the batch holds 2 input values; the model takes 12 (3 rows)")
        XCTAssertEqual(message { try m.setBatch(x: b.x, labels: [0, 1]) },
                       "softmax cross-entropy needs 3 integer labels")
        XCTAssertEqual(message { try m.setBatch(x: b.x, values: [0, 1, 0]) },
                       "softmax cross-entropy needs 3 integer labels")
        XCTAssertEqual(message { try m.setBatch(x: b.x, labels: [0, 3, 1]) }, "label 3 in row 1 is outside 0..<3")
        XCTAssertEqual(message { try m.setBatch(x: b.x, labels: [0, -1, 1]) }, "label -1 in row 1 is outside 0..<3")
        XCTAssertEqual(message { _ = try m.predict(b.x, rows: 4) }, "predict takes 1...3 rows of 4 values")
        XCTAssertEqual(message { _ = try m.predict([], rows: 0) }, "predict takes 1...3 rows of 4 values")
        XCTAssertEqual(message { _ = try m.predict(b.x, rows: 2) }, "predict takes 1...3 rows of 4 values")
        let r = try CompiledModel(analysis: try analysis(.mse), backend: TCCBackend(), scalar: .f64)
        XCTAssertEqual(message { try r.setBatch(x: b.x, values: [1]) },
                       "the targets must hold 6 values (3 rows x 2)")
        XCTAssertEqual(message { try r.setBatch(x: b.x, labels: [0, 1, 0]) },
                       "the targets must hold 6 values (3 rows x 2)")
    }

    func testTheCompilationIsTheDefaultPipeline() throws {
        let a = try analysis()
        let m = try CompiledModel(analysis: a, backend: TCCBackend(), scalar: .f32)
        let c = compile(a, options: CompileOptions(scalar: .f32))
        XCTAssertEqual(m.compilation.code.source, c.code.source)
        XCTAssertEqual(m.compilation.plan.arenaElements, c.plan.arenaElements)
        XCTAssertEqual(m.scalar, .f32)
    }
}
