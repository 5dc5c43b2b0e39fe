@testable import CodeGen
import ModelSpec

// The fusion pass as it was before the worklist rewrite (restart every rule after each fold,
// rescan the graph): kept verbatim as the reference the new pass must agree with.

/// A named rewrite of the graph that merges nodes into one kernel.
struct LegacyFusionRule: Sendable {
    /// The rule's name, as listed by `nngen emit --dump-after fuse` and in kernel comments.
    let name: String
    /// What it does, in one line.
    let summary: String
    /// Applies the rule once; true if the graph changed.
    let apply: @Sendable (inout Graph) -> Bool

    /// Every rule, in the order `fuse` tries them.
    static let all: [LegacyFusionRule] = [
        softmaxCrossEntropy, layerNormBackward, layerNormForward,
        denseBiasActivation, conv1dBiasActivation, activationDerivativeIntoProduct,
        residualAddEpilogue, elementwiseEpilogue, optimizerFlatLoop,
    ]
}

/// Applies fusion rules until none applies.
func legacyFuse(_ graph: Graph, rules: [LegacyFusionRule] = LegacyFusionRule.all) -> Graph {
    var g = graph
    var changed = true
    while changed {
        changed = false
        for rule in rules where rule.apply(&g) {
            changed = true
        }
    }
    return g
}

extension LegacyFusionRule {
    /// softmax, cross_entropy and both gradients -> one kernel giving the loss and d(logits).
    static let softmaxCrossEntropy = LegacyFusionRule(
        name: "softmax_cross_entropy",
        summary: "softmax + cross-entropy forward and backward in one kernel (loss and d logits)"
    ) { g in
        for s in g.nodes.indices where g.nodes[s].kind == .softmax {
            let p = g.nodes[s].outputs[0], z = g.nodes[s].inputs[0]
            guard let c = g.nodes.firstIndex(where: { $0.kind == .crossEntropy && $0.inputs[0] == p }),
                  let cg = g.nodes.firstIndex(where: { $0.kind == .crossEntropyGrad && $0.inputs[0] == p }),
                  let sg = g.nodes.firstIndex(where: { $0.kind == .softmaxGrad && $0.inputs[0] == p }) else { continue }
            var fused = g.nodes[s]
            fused.kind = .softmaxCrossEntropy
            fused.inputs = [z, g.nodes[c].inputs[1]]
            fused.outputs = [g.nodes[c].outputs[0], g.nodes[sg].outputs[0]]
            fused.layerType = g.nodes[c].layerType
            fused.fusedBy.append("softmax_cross_entropy")
            g.nodes[s] = fused
            g.legacyRemoveNodes([c, cg, sg])
            return true
        }
        return false
    }

    /// scale_shift_grad + layernorm_normalize_grad -> one layernorm backward kernel (dx, dweight, dbias),
    /// or the normalisation gradient alone (no affine) -> the same kernel without parameters.
    static let layerNormBackward = LegacyFusionRule(
        name: "layernorm_backward",
        summary: "layernorm backward in one kernel giving dx, dweight and dbias from x, mean and 1/std"
    ) { g in
        for ng in g.nodes.indices where g.nodes[ng].kind == .layerNormalizeGrad {
            let (dxhat, xhat, rstd) = (g.nodes[ng].inputs[0], g.nodes[ng].inputs[1], g.nodes[ng].inputs[2])
            guard let fwd = g.producer(of: xhat), case .layerNormalize = g.nodes[fwd].kind else { continue }
            let (x, mean) = (g.nodes[fwd].inputs[0], g.nodes[fwd].outputs[1])
            if let sg = g.producer(of: dxhat), g.nodes[sg].kind == .scaleShiftGrad {
                // One kernel for dx, dweight and dbias. When dx serves only the input gradient
                // and the parameters' gradients do not, dx becomes optional (skipped when not asked).
                var fused = g.nodes[sg]
                fused.kind = .layerNormGrad(affine: true)
                fused.inputs = [g.nodes[sg].inputs[0], x, mean, rstd, g.nodes[sg].inputs[2]]
                fused.outputs = [g.nodes[ng].outputs[0], g.nodes[sg].outputs[1], g.nodes[sg].outputs[2]]
                fused.epilogue = g.nodes[ng].epilogue
                fused.optionalFirstOutput = g.nodes[ng].inputGradientOnly && !g.nodes[sg].inputGradientOnly
                fused.fusedBy = Array(Set(g.nodes[ng].fusedBy + g.nodes[sg].fusedBy + ["layernorm_backward"])).sorted()
                g.nodes[ng] = fused
                g.legacyRemoveNodes([sg])
                return true
            }
            var fused = g.nodes[ng]
            fused.kind = .layerNormGrad(affine: false)
            fused.inputs = [dxhat, x, mean, rstd]
            fused.fusedBy.append("layernorm_backward")
            g.nodes[ng] = fused
            return true
        }
        return false
    }

    /// layernorm_normalize + scale_shift -> one kernel that keeps mean and 1/std for backward.
    static let layerNormForward = LegacyFusionRule(
        name: "layernorm_forward",
        summary: "layernorm forward in one kernel, keeping mean and 1/std for backward"
    ) { g in
        for n in g.nodes.indices {
            guard case .layerNormalize(let eps) = g.nodes[n].kind else { continue }
            let xhat = g.nodes[n].outputs[0]
            // Backward must no longer read xhat (layernorm_backward rewrites it to read x).
            let readers = g.consumers(of: xhat)
            if let s = readers.first, readers.count == 1, g.nodes[s].kind == .scaleShift {
                var fused = g.nodes[n]
                fused.kind = .layerNorm(eps: eps, affine: true)
                fused.inputs = [g.nodes[n].inputs[0], g.nodes[s].inputs[1], g.nodes[s].inputs[2]]
                fused.outputs = [g.nodes[s].outputs[0], g.nodes[n].outputs[1], g.nodes[n].outputs[2]]
                fused.epilogue = g.nodes[s].epilogue
                fused.fusedBy += ["layernorm_forward"] + g.nodes[s].fusedBy
                g.nodes[n] = fused
                g.legacyRemoveNodes([s])
                return true
            }
            if readers.contains(where: { g.nodes[$0].kind == .scaleShift || g.nodes[$0].kind == .scaleShiftGrad
                || g.nodes[$0].kind == .layerNormalizeGrad }) { continue }
            var fused = g.nodes[n]
            fused.kind = .layerNorm(eps: eps, affine: false)
            fused.fusedBy.append("layernorm_forward")
            g.nodes[n] = fused
            return true
        }
        return false
    }

    /// matmul + bias_add + activation (+ keeps the pre-activation only if backward needs it).
    static let denseBiasActivation = LegacyFusionRule(
        name: "dense_bias_activation",
        summary: "dense product + bias + activation in one forward kernel (bias and activation in the epilogue)"
    ) { g in
        legacyFoldEpilogue(&g, rule: "dense_bias_activation", producers: { $0 == .matmul }) {
            switch $0 { case .biasAdd, .activation: return true; default: return false }
        }
    }

    /// conv1d + bias_add + activation.
    static let conv1dBiasActivation = LegacyFusionRule(
        name: "conv1d_bias_activation",
        summary: "conv1d + bias + activation in one forward kernel"
    ) { g in
        legacyFoldEpilogue(&g, rule: "conv1d_bias_activation", producers: { if case .conv1d = $0 { return true }; return false }) {
            switch $0 { case .biasAdd, .activation: return true; default: return false }
        }
    }

    /// activation_grad folded into the backward product that follows the activation.
    static let activationDerivativeIntoProduct = LegacyFusionRule(
        name: "activation_derivative_into_product",
        summary: "the activation's derivative multiplied in the epilogue of the backward product that computes its input gradient"
    ) { g in
        legacyFoldEpilogue(&g, rule: "activation_derivative_into_product", producers: { $0.acceptsEpilogue }) {
            if case .activationGrad = $0 { return true }; return false
        }
    }

    /// add (residual, or gradients meeting at a fork) folded into the producer of one operand.
    static let residualAddEpilogue = LegacyFusionRule(
        name: "residual_add_epilogue",
        summary: "a residual add (and the sum of gradients at its fork) done in the producer's epilogue"
    ) { g in
        legacyFoldEpilogue(&g, rule: "residual_add_epilogue", producers: { $0.acceptsEpilogue }) { $0 == .add }
    }

    /// Any other elementwise node (bias, activation) after a kernel that takes an epilogue.
    static let elementwiseEpilogue = LegacyFusionRule(
        name: "elementwise_epilogue",
        summary: "bias or activation after a layernorm or other kernel done in its epilogue"
    ) { g in
        legacyFoldEpilogue(&g, rule: "elementwise_epilogue", producers: {
            switch $0 { case .matmul, .conv1d: return false; default: return $0.acceptsEpilogue }
        }) {
            switch $0 { case .biasAdd, .activation: return true; default: return false }
        }
    }

    /// Every parameter's optimizer update -> one loop over the flat parameter array.
    static let optimizerFlatLoop = LegacyFusionRule(
        name: "optimizer_flat_loop",
        summary: "the optimizer update of all parameters in one loop over the flat parameter array"
    ) { g in
        let idx = g.nodes.indices.filter { if case .optimizerUpdate = g.nodes[$0].kind { return true }; return false }
        guard let first = idx.first, case .optimizerUpdate(let opt) = g.nodes[first].kind else { return false }
        var fused = g.nodes[first]
        fused.kind = .optimizerStep(opt, parameterCount: g.analysis.parameterCount)
        fused.inputs = idx.map { g.nodes[$0].inputs[0] } + idx.map { g.nodes[$0].inputs[1] }
        fused.layerPath = "all parameters"
        fused.fusedBy.append("optimizer_flat_loop")
        g.nodes[first] = fused
        g.legacyRemoveNodes(Array(idx.dropFirst()))
        return true
    }
}

/// Folds one elementwise consumer into the kernel producing its input. The consumer must read
/// the producer's first output, run in the same phase, and read nothing produced after the
/// producer. If the intermediate has other readers, the producer also stores it.
private func legacyFoldEpilogue(_ g: inout Graph, rule: String, producers: (NodeKind) -> Bool,
                          consumers: (NodeKind) -> Bool) -> Bool {
    for ci in g.nodes.indices where consumers(g.nodes[ci].kind) {
        let c = g.nodes[ci]
        // Which operand can come from the producer.
        let operands: [Int]
        switch c.kind {
        case .biasAdd, .activation: operands = [0]
        case .activationGrad: operands = [1]
        case .add: operands = [0, 1]
        default: operands = []
        }
        for k in operands {
            let t = c.inputs[k]
            guard let pi = g.producer(of: t), pi < ci, g.nodes[pi].outputs.first == t,
                  producers(g.nodes[pi].kind), g.nodes[pi].phase == c.phase,
                  g.nodes[pi].inputGradientOnly == c.inputGradientOnly else { continue }
            // Everything else the consumer reads must exist when the producer runs.
            let others = c.inputs.enumerated().filter { $0.offset != k }.map(\.element)
            guard others.allSatisfy({ o in (g.producer(of: o) ?? -1) < pi }) else { continue }
            var p = g.nodes[pi]
            if g.consumers(of: t).count > 1 || g[t].role != .temporary { p.epilogue.append(.store(t)) }
            switch c.kind {
            case .biasAdd: p.epilogue.append(.bias(c.inputs[1]))
            case .activation(let a): p.epilogue.append(.activation(a))
            case .activationGrad(let a, let fromOutput):
                p.epilogue.append(.activationDerivative(a, source: c.inputs[0], fromOutput: fromOutput))
            case .add: p.epilogue.append(.add(others[0]))
            default: continue
            }
            p.outputs[0] = c.outputs[0]
            if !p.fusedBy.contains(rule) { p.fusedBy.append(rule) }
            g.nodes[pi] = p
            g.legacyRemoveNodes([ci])
            return true
        }
    }
    return false
}

extension Graph {
    /// Removes nodes by index.
    mutating func legacyRemoveNodes(_ indices: [Int]) {
        for i in Set(indices).sorted(by: >) { nodes.remove(at: i) }
    }
}
