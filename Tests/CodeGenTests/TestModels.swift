import CodeGen
import Foundation
import ModelSpec
import XCTest

/// Analyses a model built from explicit layers (an invalid one throws its validation error,
/// which fails the test with the message).
func analyze(_ name: String, input: InputShape, batch: Int, loss: Loss, optimizer: Optimizer = .adam(),
             _ layers: [Layer]) throws -> ModelAnalysis {
    try Model(name: name, input: input, batch: batch, layers: layers, loss: loss, optimizer: optimizer).analyze()
}

/// The package root (the directory holding Package.swift), found from this file's path.
let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // CodeGenTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()

/// Every model file in examples/ and examples/bench/, analysed.
func exampleAnalyses(file: StaticString = #filePath, line: UInt = #line) throws -> [ModelAnalysis] {
    var result: [ModelAnalysis] = []
    for dir in ["examples", "examples/bench"] {
        let url = packageRoot.appendingPathComponent(dir)
        let names = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(".json") }.sorted()
        for n in names {
            let path = url.appendingPathComponent(n).path
            result.append(try Model.load(from: URL(fileURLWithPath: path)).analyze(file: path))
        }
    }
    XCTAssertEqual(result.count, 15, "expected 7 examples (digits_mlp_finetune among them) and 8 bench models (W1..W4 "
                   + "and the last-layer-only and bias-only variants of W3 and W4)", file: file, line: line)
    return result
}

extension Graph {
    /// The kinds of all nodes, by name, in order.
    var kindNames: [String] { nodes.map(\.kind.name) }

    /// Whether some node satisfies `predicate`.
    func has(_ predicate: (Node) -> Bool) -> Bool { nodes.contains(where: predicate) }

    /// The tensor called `name` (fails the test when there is none).
    func tensor(named name: String, file: StaticString = #filePath, line: UInt = #line) -> TensorInfo? {
        let t = tensors.first { $0.name == name }
        if t == nil { XCTFail("no tensor named \(name) in \(tensors.map(\.name))", file: file, line: line) }
        return t
    }
}
