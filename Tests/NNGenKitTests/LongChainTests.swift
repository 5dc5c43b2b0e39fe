import CodeGen
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Models with hundreds of activations after a dense layer: the fused backward product used to
/// take one pointer per folded activation (tcc failed near 256 with `memory full (vstack)`);
/// kernels now take at most `maxEpilogueSteps` epilogue steps, so every valid model compiles.
final class LongChainTests: XCTestCase {
    static func chain(_ activations: Int) throws -> ModelAnalysis {
        try Model(name: "chain\(activations)", input: .features(3), batch: 2,
                  layers: [.dense(units: 4)] + Array(repeating: .activation(.relu), count: activations) + [.dense(units: 2)],
                  loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.1)).analyze()
    }

    func testThreeHundredAndOneThousandActivationsCheckOnBothBackEnds() throws {
        for n in [300, 1000] {
            let analysis = try Self.chain(n)
            let widest = compile(analysis).fused.nodes.map(\.epilogue.count).max() ?? 0
            XCTAssertLessThanOrEqual(widest, maxEpilogueSteps)
            for backend in [TCCBackend(), CCBackend()] as [any CBackend] {
                let report = try checkGradients(analysis, backend: backend, scalar: .f64, steps: 1)
                XCTAssertTrue(report.passed, "\(n) activations, \(backend.name): \(report.rows.filter { !$0.passed }.map(\.name))")
            }
        }
    }
}
