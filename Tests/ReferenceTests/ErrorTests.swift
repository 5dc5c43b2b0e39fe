import XCTest
import ModelSpec
import Reference

/// Wrong arguments throw `ReferenceError`s whose messages say what was expected.
final class ErrorTests: XCTestCase {
    func classifier() throws -> ReferenceInterpreter {
        ReferenceInterpreter(try analyze("clf", input: .features(3), batch: 2, loss: .softmaxCrossEntropy,
                                         [.dense(units: 4)]))
    }

    func regressor() throws -> ReferenceInterpreter {
        ReferenceInterpreter(try analyze("reg", input: .sequence(length: 2, channels: 2), batch: 2, loss: .mse,
                                         [.flatten, .dense(units: 3)]))
    }

    func testWrongInputSize() throws {
        let r = try classifier()
        let p = r.initialParameters(seed: 1)
        assertReferenceError({ try r.forward(parameters: p, input: [1, 2, 3]) },
                             equals: .inputCount(expected: 6, got: 3, rows: 2, perSample: 3),
                             mentions: ["input holds 3 values", "2 rows of 3 values", "need 6"])
        assertReferenceError({ try r.loss(parameters: p, input: [1, 2, 3], targets: .labels([0, 1]), batch: 2) },
                             mentions: ["need 6"])
        // an explicit batch changes what is expected
        XCTAssertNoThrow(try r.forward(parameters: p, input: [1, 2, 3], batch: 1))
        assertReferenceError({ try r.forward(parameters: p, input: [], batch: 0) }, equals: .invalidBatch(rows: 0),
                             mentions: ["at least 1 row"])
    }

    func testWrongParameterCount() throws {
        let r = try classifier()
        assertReferenceError({ try r.forward(parameters: [1], input: [Double](repeating: 0, count: 6)) },
                             equals: .parameterCount(expected: 16, got: 1), mentions: ["holds 1 values", "16 parameters"])
    }

    func testWrongTargetSizes() throws {
        let r = try regressor()
        let p = r.initialParameters(seed: 1)
        let x = [Double](repeating: 0.5, count: 8)
        assertReferenceError({ try r.loss(parameters: p, input: x, targets: .values([1, 2, 3])) },
                             equals: .targetCount(expected: 6, got: 3, rows: 2, perSample: 3),
                             mentions: ["targets hold 3 values", "2 rows of 3 outputs", "need 6"])
        let c = try classifier()
        let cp = c.initialParameters(seed: 1)
        let cx = [Double](repeating: 0.5, count: 6)
        assertReferenceError({ try c.gradients(parameters: cp, input: cx, targets: .labels([1])) },
                             equals: .targetCount(expected: 2, got: 1, rows: 2, perSample: 1),
                             mentions: ["hold 1 values", "2 rows need 2"])
    }

    func testTargetsOfTheWrongKind() throws {
        let r = try regressor()
        let p = r.initialParameters(seed: 1)
        let x = [Double](repeating: 0.5, count: 8)
        assertReferenceError({ try r.loss(parameters: p, input: x, targets: .labels([0, 1])) },
                             mentions: ["mse needs float values", "was given integer class labels"])
        let c = try classifier()
        assertReferenceError({ try c.loss(parameters: c.initialParameters(seed: 1), input: [Double](repeating: 0, count: 6),
                                          targets: .values([0, 1, 0, 0, 1, 0, 0, 0])) },
                             mentions: ["softmax_cross_entropy needs integer class labels"])
    }

    func testLabelsOutsideTheClasses() throws {
        let c = try classifier()
        let p = c.initialParameters(seed: 1)
        let x = [Double](repeating: 0.5, count: 6)
        assertReferenceError({ try c.loss(parameters: p, input: x, targets: .labels([0, 4])) },
                             equals: .labelOutOfRange(row: 1, label: 4, classes: 4),
                             mentions: ["label 4 of row 1", "outside [0, 4)"])
        assertReferenceError({ try c.gradients(parameters: p, input: x, targets: .labels([-1, 0])) },
                             equals: .labelOutOfRange(row: 0, label: -1, classes: 4), mentions: ["label -1 of row 0"])
        XCTAssertNoThrow(try c.loss(parameters: p, input: x, targets: .labels([0, 3])))
    }

    func testOptimizerSizes() throws {
        var o = ReferenceOptimizer(.adam(), parameterCount: 3)
        var p = [1.0, 2, 3]
        assertReferenceError({ try o.update(parameters: &p, gradients: [1, 2]) },
                             equals: .optimizerSize(what: "gradients", expected: 3, got: 2), mentions: ["gradients has 2"])
        XCTAssertEqual(o.step, 0, "a refused update changes nothing")
        XCTAssertEqual(p, [1, 2, 3])
        var short = [1.0]
        assertReferenceError({ try o.update(parameters: &short, gradients: [1, 2, 3]) }, mentions: ["parameters has 1"])
        o.state[1] = [0]
        assertReferenceError({ try o.update(parameters: &p, gradients: [1, 2, 3]) }, mentions: ["state slot 1 has 1"])
        assertReferenceError({ try ReferenceOptimizer(.sgd(lr: 0.1, momentum: 0.9), parameterCount: 2, step: 1, state: []) },
                             mentions: ["number of slots for sgd", "has 0", "1 are needed"])
        assertReferenceError({ try ReferenceOptimizer(.sgd(lr: 0.1), parameterCount: 2, step: -1, state: []) },
                             equals: .invalidStep(-1), mentions: [">= 0"])
    }

    func testAlteredAnalysisIsReportedNotCrashed() throws {
        var analysis = try analyze("alt", input: .features(3), batch: 2, loss: .mse, [.dense(units: 2), .activation(.relu)])
        analysis.layers.removeLast()
        let r = ReferenceInterpreter(analysis)
        assertReferenceError({ try r.forward(parameters: [Double](repeating: 0, count: 8), input: [Double](repeating: 0, count: 6)) },
                             mentions: ["inconsistent"])
        var wrongShape = try analyze("alt2", input: .features(3), batch: 2, loss: .mse, [.dense(units: 2)])
        wrongShape.layers[0].parameters[0].count = 5
        let r2 = ReferenceInterpreter(wrongShape)
        assertReferenceError({ try r2.forward(parameters: [Double](repeating: 0, count: 8), input: [Double](repeating: 0, count: 6)) },
                             mentions: ["layers[0] (dense)", "inconsistent"])
    }
}
