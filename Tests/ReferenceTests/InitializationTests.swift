import XCTest
import ModelSpec
import Reference

/// docs/CONVENTIONS.md "Initial values" with the project's generator.
final class InitializationTests: XCTestCase {
    func model() throws -> ModelAnalysis {
        try analyze("init", input: .sequence(length: 8, channels: 3), batch: 2, loss: .softmaxCrossEntropy,
                    [.conv1d(filters: 4, kernel: 3), .layerNorm(), .flatten, .dense(units: 5), .layerNorm(),
                     .dense(units: 3, bias: false)])
    }

    func testSameSeedSameParametersOtherSeedOthers() throws {
        let r = ReferenceInterpreter(try model())
        let a = r.initialParameters(seed: 42)
        XCTAssertEqual(a.count, r.analysis.parameterCount)
        XCTAssertEqual(a, r.initialParameters(seed: 42))
        XCTAssertNotEqual(a, r.initialParameters(seed: 43))
    }

    func testLayerNormStartsAtOneAndZeroAndDrawsStayWithinTheBound() throws {
        let analysis = try model()
        let values = ReferenceInterpreter(analysis).initialParameters(seed: 7)
        for p in analysis.parameters {
            let slice = values[p.offset..<(p.offset + p.count)]
            switch p.initializer {
            case .constant(let v):
                XCTAssertTrue(p.name.hasPrefix("layers.1.") || p.name.hasPrefix("layers.4."), p.name)
                XCTAssertEqual(v, p.role == .weight ? 1 : 0, p.name)
                XCTAssert(slice.allSatisfy { $0 == v }, p.name)
            case .uniform(let bound):
                // conv: 1/sqrt(in_ch * kernel) = 1/3; dense: 1/sqrt(in), in = 6 positions * 4 channels, then 5
                let fanIn = p.name.hasPrefix("layers.0.") ? 9.0 : Double(p.name.hasPrefix("layers.3.") ? 24 : 5)
                assertClose(bound, 1 / fanIn.squareRoot(), tolerance: 1e-15, p.name)
                XCTAssert(slice.allSatisfy { abs($0) <= bound }, p.name)
                XCTAssert(slice.contains { abs($0) > bound / 2 }, "\(p.name): draws should fill the range")
            }
        }
    }

    func testDrawsComeFromOneGeneratorInFlatOrder() throws {
        // dense [3, 2] weight (bound 1/sqrt 2), then its bias [3] with the same bound.
        let analysis = try analyze("dense", input: .features(2), batch: 1, loss: .mse, [.dense(units: 3)])
        let values = ReferenceInterpreter(analysis).initialParameters(seed: 2024)
        var rng = Xoshiro256StarStar(seed: 2024)
        let b = 1 / 2.0.squareRoot()
        let draws = (0..<9).map { _ in rng.nextDouble() }
        for i in 0..<3 {
            XCTAssertEqual(values[i], -b + 2 * b * draws[i], "weight element \(i)")
        }
        // the bias continues the same stream after the 6 weight draws
        XCTAssertEqual(values[6], -b + 2 * b * draws[6])
        XCTAssertEqual(values.count, 9)
    }

    func testConstantsTakeNoDraws() throws {
        // layernorm's parameters come between two dense layers and must not consume draws.
        let with = try analyze("ln_between", input: .features(3), batch: 1, loss: .mse,
                               [.dense(units: 3), .layerNorm(), .dense(units: 1)])
        let values = ReferenceInterpreter(with).initialParameters(seed: 11)
        var rng = Xoshiro256StarStar(seed: 11)
        let draws = (0..<(9 + 3 + 3 + 1)).map { _ in rng.nextDouble() }
        guard let w2 = with.parameter(named: "layers.2.weight") else { return XCTFail("no layers.2.weight") }
        let b2 = 1 / 3.0.squareRoot()
        // the second dense layer's first weight is draw number 12 (9 weights + 3 biases before it)
        XCTAssertEqual(values[w2.offset], -b2 + 2 * b2 * draws[12])
    }
}
