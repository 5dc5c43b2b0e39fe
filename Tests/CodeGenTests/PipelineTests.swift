import CodeGen
import ModelSpec
import XCTest

/// The stages one by one: lower, differentiate, fuse's input/outputs, and the dumps.
final class PipelineTests: XCTestCase {
    // MARK: lower

    func testLowerGivesOnePrimitivePerPieceOfMath() throws {
        let a = try analyze("lower_mlp", input: .features(3), batch: 2, loss: .mse,
                            [.dense(units: 4), .activation(.relu), .dense(units: 2)])
        let g = lower(a)
        XCTAssertEqual(g.tensors.map(\.name), [
            "x", "y", "layers.0.weight", "layers.0.matmul", "layers.0.bias", "layers.0.out", "layers.1.out",
            "layers.2.weight", "layers.2.matmul", "layers.2.bias", "layers.2.out", "loss",
        ])
        XCTAssertEqual(g.tensors.map(\.shape), [[2, 3], [2, 2], [4, 3], [2, 4], [4], [2, 4], [2, 4],
                                                [2, 4], [2, 2], [2], [2, 2], []])
        XCTAssertEqual(g.kindNames, ["matmul", "bias_add", "relu", "matmul", "bias_add", "mse"])
        XCTAssertEqual(g.nodes.map(\.layerPath), ["layers[0]", "layers[0]", "layers[1]", "layers[2]", "layers[2]", "loss"])
        XCTAssertTrue(g.nodes.allSatisfy { $0.phase == .forward && $0.fusedBy.isEmpty && $0.epilogue.isEmpty })
        // Each node reads the previous node's output.
        for (prev, next) in zip(g.nodes, g.nodes.dropFirst()) {
            XCTAssertEqual(next.inputs[0], prev.outputs[0], "\(next.kind.name)")
        }
        XCTAssertEqual(g[g.input].role, .input)
        XCTAssertEqual(g[g.target].role, .target)
        XCTAssertEqual(g[g.loss].role, .loss)
        XCTAssertEqual(g[g.output].name, "layers.2.out")
        XCTAssertEqual(g.nodes.last?.inputs, [g.output, g.target])
        XCTAssertEqual(g.parameterTensors.keys.sorted(), a.parameters.map(\.name).sorted())
        for p in a.parameters {
            XCTAssertEqual(g.parameterTensors[p.name].map { g[$0].shape }, p.shape)
            XCTAssertEqual(g.parameterTensors[p.name].map { g[$0].role }, .parameter(p))
        }
    }

    func testLowerSequenceLayers() throws {
        let a = try analyze("lower_seq", input: .sequence(length: 9, channels: 2), batch: 2, loss: .softmaxCrossEntropy,
                            [.conv1d(filters: 3, kernel: 3, stride: 2, padding: .explicit(1), bias: false),
                             .layerNorm(affine: false), .maxPool1d(kernel: 2, stride: 1),
                             .residual([.conv1d(filters: 3, kernel: 1)]), .flatten, .dense(units: 4, bias: false)])
        let g = lower(a)
        XCTAssertEqual(g.kindNames, ["conv1d", "layernorm_normalize", "maxpool1d", "conv1d", "bias_add", "add", "reshape",
                                     "matmul", "softmax", "cross_entropy"])
        guard case .conv1d(let at) = g.nodes[0].kind else { return XCTFail("not a conv1d: \(g.nodes[0].kind)") }
        XCTAssertEqual([at.kernel, at.stride, at.dilation, at.padLeft, at.inLength, at.outLength, at.inChannels, at.outChannels],
                       [3, 2, 1, 1, 9, 5, 2, 3])
        // Output shapes of every node, in order.
        XCTAssertEqual(g.nodes.map { g[$0.outputs[0]].shape }, [[2, 5, 3], [2, 5, 3], [2, 4, 3], [2, 4, 3], [2, 4, 3],
                                                               [2, 4, 3], [2, 12], [2, 4], [2, 4], []])
        // layernorm keeps one mean and one 1/std per row (batch x positions).
        XCTAssertEqual(g.nodes[1].outputs.map { g[$0].shape }, [[2, 5, 3], [10], [10]])
        // The residual add reads the body's output and the block's input.
        XCTAssertEqual(g.nodes[5].inputs, [g.nodes[4].outputs[0], g.nodes[2].outputs[0]])
        XCTAssertEqual(g.nodes[5].layerPath, "layers[3]")
        XCTAssertEqual(g.nodes[3].layerPath, "layers[3].layers[0]")
        XCTAssertEqual(g[g.target].shape, [2])
    }

    // MARK: differentiate

    func testInputGradientOnlyWhenAskedAndItsNodesAreMarked() throws {
        let a = try analyze("diff_mlp", input: .features(3), batch: 2, loss: .mse, [.dense(units: 4), .activation(.relu), .dense(units: 2)])
        let with = differentiate(lower(a), inputGradient: true)
        let without = differentiate(lower(a), inputGradient: false)

        let dx = try XCTUnwrap(with.inputGradient)
        XCTAssertEqual(with[dx].role, .inputGradient)
        XCTAssertEqual(with[dx].shape, [2, 3])
        XCTAssertEqual(with[dx].name, "grad(x)")
        XCTAssertNil(without.inputGradient)
        XCTAssertFalse(without.tensors.contains { $0.role == .inputGradient })

        func describe(_ g: Graph) -> [String] { g.nodes.filter { $0.phase == .backward }.map { "\($0.layerPath) \($0.kind.name)" } }
        XCTAssertEqual(describe(with), [
            "loss mse_grad", "layers[2] bias_grad", "layers[2] matmul_grad_weight", "layers[2] matmul_grad_input",
            "layers[1] relu_grad", "layers[0] bias_grad", "layers[0] matmul_grad_weight", "layers[0] matmul_grad_input",
        ])
        XCTAssertEqual(describe(without), Array(describe(with).dropLast()))
        // Only the node writing dx serves the input gradient alone.
        XCTAssertEqual(with.nodes.filter(\.inputGradientOnly).map { "\($0.layerPath) \($0.kind.name)" },
                       ["layers[0] matmul_grad_input"])
        XCTAssertEqual(with.nodes.filter(\.inputGradientOnly).first?.outputs, [dx])
        XCTAssertFalse(without.nodes.contains(where: \.inputGradientOnly))
        // Every parameter has a gradient of its shape, and one update.
        for p in a.parameters {
            let g = try XCTUnwrap(with.parameterGradients[p.name])
            XCTAssertEqual(with[g].shape, p.shape)
            XCTAssertEqual(with[g].role, .parameterGradient(p))
        }
        XCTAssertEqual(with.nodes.filter { $0.phase == .update }.count, a.parameters.count)
    }

    func testChainsServingOnlyTheInputGradientAreMarked() throws {
        // tanh and layernorm before the first parameter: their backward serves only dx, while the
        // layernorm's scale/shift gradient also gives dweight and dbias.
        let a = try analyze("diff_chain", input: .features(3), batch: 2, loss: .mse,
                            [.activation(.tanh), .layerNorm(), .dense(units: 2)])
        let g = differentiate(lower(a), inputGradient: true)
        let marked = g.nodes.filter(\.inputGradientOnly).map { "\($0.layerPath) \($0.kind.name)" }
        XCTAssertEqual(marked, ["layers[1] layernorm_normalize_grad", "layers[0] tanh_grad"])
        // The dense layer's input gradient still serves the layernorm's dweight and dbias.
        XCTAssertTrue(g.nodes.contains { $0.kind == .matmulGradInput && !$0.inputGradientOnly })
        XCTAssertTrue(g.nodes.contains { $0.kind == .scaleShiftGrad && !$0.inputGradientOnly })
        // Without the input gradient the marked nodes do not exist; the others do.
        let h = differentiate(lower(a), inputGradient: false)
        XCTAssertEqual(h.nodes.filter { $0.phase == .backward }.map(\.kind.name),
                       ["mse_grad", "bias_grad", "matmul_grad_weight", "matmul_grad_input", "scale_shift_grad"])
    }

    func testResidualForkSumsBothGradientContributions() throws {
        let a = try analyze("diff_res", input: .features(3), batch: 2, loss: .mse,
                            [.dense(units: 4), .residual([.dense(units: 4), .activation(.tanh)]), .dense(units: 2)])
        let g = differentiate(lower(a), inputGradient: true)
        let adds = g.nodes.filter { $0.kind == .add && $0.phase == .backward }
        XCTAssertEqual(adds.count, 1)
        let add = try XCTUnwrap(adds.first)
        XCTAssertEqual(g[add.outputs[0]].name, "grad(layers.0.out)")
        XCTAssertEqual(g[add.outputs[0]].shape, [2, 4])
        // One contribution comes through the block's body (its first matmul's input gradient),
        // the other straight from the block's output gradient.
        let names = Set(add.inputs.map { g[$0].name })
        XCTAssertEqual(names, ["grad(layers.1.out)", "grad(layers.0.out)"])
        let bodyGrad = try XCTUnwrap(add.inputs.first { g[$0].name == "grad(layers.0.out)" })
        let producer = try XCTUnwrap(g.producer(of: bodyGrad))
        XCTAssertEqual(g.nodes[producer].kind, .matmulGradInput)
        XCTAssertEqual(g.nodes[producer].layerPath, "layers[1].layers[0]")
        // The sum feeds layers[0]'s gradients.
        let readers = g.consumers(of: add.outputs[0]).map { g.nodes[$0].kind.name }.sorted()
        XCTAssertEqual(readers, ["bias_grad", "matmul_grad_input", "matmul_grad_weight"])

        // A residual on the input itself: the input gradient is the sum, and only dx needs it.
        let b = try analyze("diff_res_in", input: .features(3), batch: 2, loss: .mse,
                            [.residual([.dense(units: 3), .activation(.tanh)]), .dense(units: 2)])
        let h = differentiate(lower(b), inputGradient: true)
        let dx = try XCTUnwrap(h.inputGradient)
        let sum = try XCTUnwrap(h.producer(of: dx))
        XCTAssertEqual(h.nodes[sum].kind, .add)
        XCTAssertEqual(h.nodes[sum].layerPath, "input")
        XCTAssertTrue(h.nodes[sum].inputGradientOnly)
    }

    // MARK: planMemory

    /// Models the planner must handle beyond the examples: residuals, flatten aliases,
    /// layernorm statistics, pools, tiny tensors.
    func plannerTestModels() throws -> [ModelAnalysis] {
        [
            try analyze("plan_res_seq", input: .sequence(length: 6, channels: 3), batch: 2, loss: .mse,
                        [.residual([.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.relu),
                                    .conv1d(filters: 3, kernel: 3, padding: .same, dilation: 2)]),
                         .layerNorm(), .residual([.layerNorm(affine: false), .residual([.conv1d(filters: 3, kernel: 1)])]),
                         .flatten, .dense(units: 2)]),
            try analyze("plan_pools", input: .sequence(length: 10, channels: 2), batch: 3, loss: .softmaxCrossEntropy,
                        [.conv1d(filters: 3, kernel: 3, padding: .valid), .maxPool1d(kernel: 3, stride: 2),
                         .avgPool1d(kernel: 2, stride: 1), .globalAvgPool1d, .dense(units: 3)]),
            try analyze("plan_nested", input: .features(4), batch: 3, loss: .softmaxCrossEntropy,
                        [.dense(units: 4), .residual([.dense(units: 4), .activation(.tanh), .residual([.layerNorm(), .dense(units: 4), .activation(.gelu)])]),
                         .dense(units: 3)]),
            try analyze("plan_tiny", input: .features(2), batch: 1, loss: .bceWithLogits, [.dense(units: 1)]),
        ]
    }

    func testMemoryPlanNeverOverlapsLiveTensors() throws {
        let models = try exampleAnalyses() + plannerTestModels()
        for a in models {
            for inputGradient in [true, false] {
                let c = compile(a, options: CompileOptions(scalar: .f32, inputGradient: inputGradient))
                checkPlan(c.plan, a, "\(a.model.name) inputGradient \(inputGradient)")
            }
        }
    }

    /// The plan's properties, with live ranges worked out here from the node schedule.
    func checkPlan(_ plan: MemoryPlan, _ a: ModelAnalysis, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let g = plan.graph
        // Tensors that share memory on purpose: the two sides of a reshape.
        var alias = Array(0..<g.tensors.count)
        func root(_ i: Int) -> Int { var i = i; while alias[i] != i { i = alias[i] }; return i }
        for n in g.nodes where n.kind == .reshape { alias[root(n.outputs[0].raw)] = root(n.inputs[0].raw) }
        // Live range of each alias class: first to last node touching any member; the loss lives throughout.
        var first: [Int: Int] = [:], last: [Int: Int] = [:]
        for (i, n) in g.nodes.enumerated() where n.kind != .reshape {
            for t in n.reads + n.writes {
                let r = root(t.raw)
                first[r] = min(first[r] ?? i, i)
                last[r] = max(last[r] ?? i, i)
            }
        }
        var arena: [(t: TensorInfo, offset: Int, range: ClosedRange<Int>)] = []
        for t in g.tensors {
            switch t.role {
            case .parameter(let p):
                XCTAssertEqual(plan.locations[t.id], .parameters(p.offset), "\(label): \(t.name)", file: file, line: line)
                XCTAssertEqual(a.parameter(named: p.name)?.offset, p.offset, "\(label): \(t.name)", file: file, line: line)
            case .parameterGradient(let p):
                XCTAssertEqual(plan.locations[t.id], .gradients(try XCTUnwrap(p.gradientOffset)), "\(label): \(t.name)", file: file, line: line)
                XCTAssertEqual(a.parameter(named: p.name)?.offset, p.offset, file: file, line: line)
            case .input:
                XCTAssertEqual(plan.locations[t.id], .input, file: file, line: line)
            case .target:
                XCTAssertEqual(plan.locations[t.id], .target, file: file, line: line)
            case .inputGradient:
                XCTAssertEqual(plan.locations[t.id], .inputGradient, file: file, line: line)
            case .loss, .temporary:
                guard let loc = plan.locations[t.id] else {
                    XCTAssertNil(first[root(t.id.raw)], "\(label): \(t.name) is used but has no location", file: file, line: line)
                    continue
                }
                guard case .arena(let o) = loc else {
                    // A reshape of an external tensor (the flattened input, dx) shares its location.
                    XCTAssertNotEqual(root(t.id.raw), t.id.raw, "\(label): \(t.name) at \(loc)", file: file, line: line)
                    continue
                }
                let r = root(t.id.raw)
                guard let s = first[r], let e = last[r] else {
                    XCTFail("\(label): \(t.name) has an arena slot but no node uses it", file: file, line: line)
                    continue
                }
                XCTAssertEqual(o % arenaAlignment, 0, "\(label): \(t.name) at \(o) is not \(arenaAlignment)-aligned",
                               file: file, line: line)
                XCTAssertLessThanOrEqual(o + t.count, plan.arenaElements, "\(label): \(t.name) ends past the arena",
                                         file: file, line: line)
                arena.append((t, o, t.role == .loss ? 0...g.nodes.count : s...e))
            }
        }
        XCTAssertTrue(arena.contains { $0.t.role == .loss }, "\(label): the loss is not in the arena", file: file, line: line)
        var conflicts: [String] = []
        for i in arena.indices {
            for j in arena.indices where j > i {
                let (x, y) = (arena[i], arena[j])
                if root(x.t.id.raw) == root(y.t.id.raw) { continue }  // a reshape alias
                guard x.range.overlaps(y.range) else { continue }
                let xs = x.offset..<(x.offset + max(1, x.t.count)), ys = y.offset..<(y.offset + max(1, y.t.count))
                if xs.overlaps(ys) {
                    conflicts.append("\(x.t.name) \(xs) live \(x.range) and \(y.t.name) \(ys) live \(y.range)")
                }
            }
        }
        XCTAssertTrue(conflicts.isEmpty, "\(label): live tensors share memory:\n" + conflicts.joined(separator: "\n"),
                      file: file, line: line)
        // The naive sum is the sum of the arena buffers (one per alias class), each rounded up
        // to the alignment as the arena's are; the arena never exceeds it.
        let sizes = Dictionary(arena.map { (root($0.t.id.raw), max(1, $0.t.count)) }, uniquingKeysWith: max)
        let alignedNaive = sizes.values.map { ($0 + arenaAlignment - 1) / arenaAlignment * arenaAlignment }.reduce(0, +)
        XCTAssertEqual(plan.naiveElements, alignedNaive, "\(label): the naive sum is the sum of aligned arena buffers",
                       file: file, line: line)
        XCTAssertLessThanOrEqual(plan.arenaElements, alignedNaive, "\(label): arena above the (aligned) naive sum",
                                 file: file, line: line)
    }

    /// The arena against the naive sum on the bench models. w1 (64-128-64-10) has nothing to
    /// reuse: every activation is kept for backward and each gradient is larger than the dead
    /// buffers when it is made, so its arena is the naive sum rounded up to the alignment
    /// (12,944 against 12,929). The larger models reuse a quarter to a third.
    func testArenaReusesMemoryOnTheBenchModels() throws {
        var ratios: [String: Double] = [:]
        for a in try exampleAnalyses() where a.model.name.hasPrefix("w") && !a.hasFrozenParameters {
            let p = compile(a).plan
            ratios[a.model.name] = Double(p.arenaElements) / Double(p.naiveElements)
            print(String(format: "arena %@: %d elements, naive sum %d (%.1f%%)", a.model.name, p.arenaElements,
                         p.naiveElements, 100 * Double(p.arenaElements) / Double(p.naiveElements)))
        }
        XCTAssertEqual(ratios.keys.sorted(), ["w1_digits_mlp", "w2_mnist_mlp", "w3_conv1d_ln", "w4_resmlp"])
        XCTAssertLessThan(ratios["w1_digits_mlp"] ?? 9, 1.01)
        XCTAssertLessThan(ratios["w2_mnist_mlp"] ?? 9, 0.8)
        XCTAssertLessThan(ratios["w3_conv1d_ln"] ?? 9, 0.7)
        XCTAssertLessThan(ratios["w4_resmlp"] ?? 9, 0.7)
    }

    // MARK: dumps

    func testDumpAfterEveryStageNamesTheNodes() throws {
        let a = try analyze("dump_model", input: .sequence(length: 6, channels: 2), batch: 2, loss: .softmaxCrossEntropy,
                            [.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.relu), .layerNorm(),
                             .residual([.conv1d(filters: 3, kernel: 1), .activation(.gelu)]), .flatten, .dense(units: 3)])
        let c = compile(a, options: CompileOptions(scalar: .f32))
        for stage in Stage.allCases {
            let text = c.dump(after: stage)
            XCTAssertFalse(text.isEmpty, "\(stage)")
            XCTAssertTrue(text.contains("dump_model"), "\(stage) does not name the model")
            switch stage {
            case .lower, .differentiate, .fuse:
                let g = stage == .lower ? c.lowered : stage == .differentiate ? c.differentiated : c.fused
                XCTAssertTrue(text.hasPrefix("graph dump_model: \(g.tensors.count) tensors, \(g.nodes.count) nodes\n"), "\(stage)")
                let lines = text.split(separator: "\n")
                let nodeLines = lines.filter { $0.hasPrefix("  [") }
                XCTAssertEqual(nodeLines.count, g.nodes.count, "\(stage)")
                for (n, l) in zip(g.nodes, nodeLines) {
                    XCTAssertTrue(l.contains("[\(n.phase.rawValue)] \(n.layerPath) \(n.kind.name)("), "\(stage): \(l)")
                    for rule in n.fusedBy { XCTAssertTrue(l.contains(rule), "\(stage): \(l)") }
                }
                for t in g.tensors { XCTAssertTrue(text.contains(" \(t.id) \(t.name) \(t.shape)"), "\(stage): \(t.name)") }
            case .planMemory:
                XCTAssertTrue(text.hasPrefix("memory plan dump_model: arena \(c.plan.arenaElements) elements, "
                                             + "naive sum \(c.plan.naiveElements)"))
                for (id, loc) in c.plan.locations {
                    let t = c.plan.graph[id]
                    if case .arena(let o) = loc {
                        XCTAssertTrue(text.contains("\(t.name) \(t.shape): arena + \(o)"), t.name)
                    } else {
                        XCTAssertTrue(text.contains("\(t.name) \(t.shape): "), t.name)
                    }
                }
            case .emitC:
                XCTAssertTrue(text.contains(c.code.header) && text.contains(c.code.source))
                for k in c.code.kernelNames { XCTAssertTrue(text.contains("static void \(k)("), k) }
            }
        }
        XCTAssertNotEqual(c.dump(after: .lower), c.dump(after: .differentiate))
        XCTAssertNotEqual(c.dump(after: .differentiate), c.dump(after: .fuse))
        XCTAssertTrue(c.dump(after: .fuse).contains("fused{"))
        XCTAssertFalse(c.dump(after: .differentiate).contains("fused{"))
    }
}
