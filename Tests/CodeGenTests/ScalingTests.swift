@testable import CodeGen
import Foundation
import ModelSpec
import XCTest

/// The pipeline on large models (every pass linear or N log N in the graph), and the fusion pass
/// against the pass it replaced (`legacyFuse`, which restarted every rule after each fold).
final class ScalingTests: XCTestCase {
    /// One dense layer, `activations` activations, the output layer.
    static func denseThenActivations(_ activations: Int, _ a: Activation = .relu) throws -> ModelAnalysis {
        try analyze("chain\(activations)", input: .features(5), batch: 2, loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.1),
                    [.dense(units: 4)] + Array(repeating: .activation(a), count: activations) + [.dense(units: 3)])
    }

    /// Small models mixing every layer kind, drawn from a seeded generator.
    static func mixedModels(count: Int) throws -> [ModelAnalysis] {
        var state: UInt64 = 0x5eed
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let acts: [Activation] = [.relu, .gelu, .tanh, .sigmoid, .identity, .silu, .leakyReLU()]
        func vectorLayer(_ depth: Int) -> Layer {
            switch next(depth > 0 ? 6 : 7) {
            case 0, 1: return .dense(units: 4, bias: next(3) != 0)
            case 2, 3: return .activation(acts[next(acts.count)])
            case 4: return .layerNorm(affine: next(2) == 0)
            case 5: return .dense(units: 4)
            default: return .residual((0..<(1 + next(4))).map { _ in vectorLayer(depth + 1) })
            }
        }
        var result: [ModelAnalysis] = []
        let losses: [Loss] = [.softmaxCrossEntropy, .mse, .bceWithLogits, .huber()]
        for k in 0..<count {
            var layers: [Layer] = []
            let sequence = next(4) == 0
            if sequence {
                layers.append(.conv1d(filters: 4, kernel: 3, padding: .same))
                for _ in 0..<next(4) {
                    switch next(5) {
                    case 0: layers.append(.activation(acts[next(acts.count)]))
                    case 1: layers.append(.layerNorm(affine: next(2) == 0))
                    case 2: layers.append(.conv1d(filters: 4, kernel: 3, padding: .same, bias: next(2) == 0))
                    case 3: layers.append(.residual([.conv1d(filters: 4, kernel: 3, padding: .same), .activation(.relu)]))
                    default: layers.append(.maxPool1d(kernel: 2, stride: 1))
                    }
                }
                layers.append(next(2) == 0 ? .flatten : .globalAvgPool1d)
            }
            layers.append(.dense(units: 4))
            for _ in 0..<(1 + next(7)) { layers.append(vectorLayer(0)) }
            layers.append(.dense(units: 3))
            let loss = losses[next(losses.count)]
            let input: InputShape = sequence ? .sequence(length: 6, channels: 2) : .features(5)
            result.append(try analyze("mixed\(k)", input: input, batch: 2, loss: loss, [Layer](layers)))
        }
        return result
    }

    func testFusionAgreesWithThePassItReplaced() throws {
        var models = try exampleAnalyses() + Self.mixedModels(count: 150)
        models += try [1, 2, 7, 8].map { try Self.denseThenActivations($0) }
        var compared = 0
        for a in models {
            for inputGradient in [true, false] {
                let d = differentiate(lower(a), inputGradient: inputGradient)
                let before = legacyFuse(d)
                // The new pass stops at maxEpilogueSteps; below it, it must agree exactly.
                guard before.nodes.allSatisfy({ $0.epilogue.count <= maxEpilogueSteps }) else { continue }
                XCTAssertEqual(fuse(d).dump(), before.dump(), "\(a.model.name) inputGradient \(inputGradient)")
                compared += 1
                if compared % 5 == 0 {
                    // Rule subsets (as in the ablation): without each rule in turn.
                    for r in FusionRule.all.indices {
                        var now = FusionRule.all, old = LegacyFusionRule.all
                        now.remove(at: r); old.remove(at: r)
                        XCTAssertEqual(fuse(d, rules: now).dump(), legacyFuse(d, rules: old).dump(),
                                       "\(a.model.name) without \(FusionRule.all[r].name)")
                    }
                }
            }
        }
        XCTAssertGreaterThan(compared, 250)
    }

    func testEpilogueStopsAtTheBound() throws {
        let g = compile(try Self.denseThenActivations(300)).fused
        XCTAssertLessThanOrEqual(g.nodes.map(\.epilogue.count).max() ?? 0, maxEpilogueSteps)
        XCTAssertEqual(g.nodes.map(\.epilogue.count).max(), maxEpilogueSteps)
    }

    func testFiveThousandLayersCompileInSeconds() throws {
        let start = Date()
        let a = try analyze("deep", input: .features(5), batch: 2, loss: .mse, optimizer: .adam(),
                            [.dense(units: 4)] + (0..<1666).flatMap { k -> [Layer] in
                                [.activation(k % 2 == 0 ? .relu : .tanh), .layerNorm(), .residual([.dense(units: 4)])]
                            } + [.dense(units: 2)])
        XCTAssertEqual(a.layers.count, 2 + 1666 * 4)
        let c = compile(a)
        XCTAssertTrue(c.code.source.contains("deep_train_step"))
        XCTAssertGreaterThan(c.fused.nodes.count, 5000)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertLessThan(seconds, 60, "5,000 layers took \(seconds) s")
    }
}
