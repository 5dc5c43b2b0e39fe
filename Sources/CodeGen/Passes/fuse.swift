import ModelSpec

/// A named rewrite of the graph that merges nodes into one kernel.
public struct FusionRule: Sendable {
    /// The rule's name, as listed by `nngen emit --dump-after fuse` and in kernel comments.
    public let name: String
    /// What it does, in one line.
    public let summary: String
    /// The kinds of node the rule can start from (its candidates).
    let candidate: @Sendable (NodeKind) -> Bool
    /// Applies the rule at one candidate node; true if the graph changed (false leaves it as it was).
    let applyAt: @Sendable (inout FusionGraph, Int) -> Bool

    /// Every rule, in the order `fuse` tries them.
    public static let all: [FusionRule] = [
        softmaxCrossEntropy, layerNormBackward, layerNormForward,
        denseBiasActivation, conv1dBiasActivation, activationDerivativeIntoProduct,
        residualAddEpilogue, elementwiseEpilogue, optimizerFlatLoop,
    ]
}

/// The most epilogue steps one kernel takes. Past it the elementwise nodes stay kernels of their
/// own: every step that reads or writes a tensor is one more pointer parameter of the kernel, and
/// C compilers only promise 127 of them (libtcc fails with `memory full (vstack)` near 256).
public let maxEpilogueSteps = 8

/// Applies fusion rules until none applies.
///
/// The result is the one of the original definition: rounds in which every rule, in order,
/// folds its first match (the lowest node index where it applies), until a round changes
/// nothing. Instead of rescanning the graph for each fold, each rule keeps a queue of candidate
/// nodes, ordered by index, whose match is not known to fail; a fold puts back in the queues
/// every node within one tensor of what it changed (the only nodes whose match can change).
/// Removed nodes stay as holes until the end, so indices keep their order.
public func fuse(_ graph: Graph, rules: [FusionRule] = FusionRule.all) -> Graph {
    var g = FusionGraph(graph)
    var queues = rules.map { _ in CandidateQueue(capacity: g.slots.count) }
    func enqueue(_ i: Int) {
        guard let n = g.slots[i] else { return }
        for r in rules.indices where rules[r].candidate(n.kind) { queues[r].push(i) }
    }
    for i in g.slots.indices { enqueue(i) }
    var changed = true
    while changed {
        changed = false
        for r in rules.indices {
            while let i = queues[r].popMin() {
                guard let n = g.slots[i], rules[r].candidate(n.kind) else { continue }
                if rules[r].applyAt(&g, i) {
                    changed = true
                    for j in g.drainTouched() { enqueue(j) }
                    break
                }
            }
        }
    }
    return g.graph()
}

/// A graph being fused: nodes stay at their index (removed ones become holes), with the
/// readers and writers of every tensor indexed, and the nodes near each change recorded.
struct FusionGraph {
    private var base: Graph
    /// The nodes by index; nil once removed.
    private(set) var slots: [Node?]
    /// The nodes reading / writing each tensor (by raw id), each node once.
    private var readers: [[Int]]
    private var writers: [[Int]]
    /// Nodes whose match may have changed since the last `drainTouched`.
    private var touched: [Int] = []
    private var touchedMark: [Bool]

    init(_ graph: Graph) {
        base = graph
        slots = graph.nodes
        readers = Array(repeating: [], count: graph.tensors.count)
        writers = Array(repeating: [], count: graph.tensors.count)
        touchedMark = Array(repeating: false, count: graph.nodes.count)
        base.nodes = []
        for (i, n) in graph.nodes.enumerated() { index(n, i) }
    }

    var analysis: ModelAnalysis { base.analysis }
    subscript(_ t: TensorID) -> TensorInfo { base[t] }

    /// The live node at an index.
    func node(_ i: Int) -> Node { slots[i]! }

    /// The nodes reading a tensor, in execution order.
    func consumers(of t: TensorID) -> [Int] { readers[t.raw].sorted() }

    /// The first node writing a tensor.
    func producer(of t: TensorID) -> Int? { writers[t.raw].min() }

    /// Replaces the node at an index.
    mutating func set(_ i: Int, _ n: Node) {
        let old = slots[i]!
        unindex(old, i)
        slots[i] = n
        index(n, i)
        touch(i, old, n)
    }

    /// Removes nodes by index.
    mutating func removeNodes(_ indices: [Int]) {
        for i in Set(indices).sorted() {
            guard let old = slots[i] else { continue }
            unindex(old, i)
            slots[i] = nil
            touch(i, old, nil)
        }
    }

    /// The nodes recorded since the last call (each once).
    mutating func drainTouched() -> [Int] {
        let t = touched
        touched.removeAll(keepingCapacity: true)
        for i in t { touchedMark[i] = false }
        return t.sorted()
    }

    /// The fused graph, holes removed.
    func graph() -> Graph {
        var g = base
        g.nodes = slots.compactMap { $0 }
        return g
    }

    /// The tensors without repeats, in order (linear: the fused optimizer step reads every
    /// parameter and gradient).
    private static func unique(_ ts: [TensorID]) -> [TensorID] {
        if ts.count <= 16 {
            var out: [TensorID] = []
            for t in ts where !out.contains(t) { out.append(t) }
            return out
        }
        var seen = Set<TensorID>(minimumCapacity: ts.count)
        return ts.filter { seen.insert($0).inserted }
    }

    private mutating func index(_ n: Node, _ i: Int) {
        for t in Self.unique(n.reads) { readers[t.raw].append(i) }
        for t in Self.unique(n.writes) { writers[t.raw].append(i) }
    }

    private mutating func unindex(_ n: Node, _ i: Int) {
        for t in Self.unique(n.reads) { if let k = readers[t.raw].firstIndex(of: i) { readers[t.raw].remove(at: k) } }
        for t in Self.unique(n.writes) { if let k = writers[t.raw].firstIndex(of: i) { writers[t.raw].remove(at: k) } }
    }

    private mutating func mark(_ i: Int) {
        if !touchedMark[i] { touchedMark[i] = true; touched.append(i) }
    }

    /// Records a change of node `i`: it and every node reading or writing a tensor it read or
    /// wrote, before or after (a rule's match depends on a node and the producers and readers
    /// of the tensors it reads and writes).
    private mutating func touch(_ i: Int, _ old: Node, _ new: Node?) {
        mark(i)
        var ts = old.reads + old.writes
        if let new { ts += new.reads + new.writes }
        for t in Self.unique(ts) {
            for j in readers[t.raw] { mark(j) }
            for j in writers[t.raw] { mark(j) }
        }
    }
}

/// Node indices ordered for `popMin`, each at most once.
struct CandidateQueue {
    private var heap: [Int] = []
    private var queued: [Bool]

    init(capacity: Int) { queued = Array(repeating: false, count: capacity) }

    mutating func push(_ i: Int) {
        guard !queued[i] else { return }
        queued[i] = true
        heap.append(i)
        var c = heap.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard heap[c] < heap[p] else { break }
            heap.swapAt(c, p)
            c = p
        }
    }

    mutating func popMin() -> Int? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < heap.count && heap[l] < heap[m] { m = l }
                if r < heap.count && heap[r] < heap[m] { m = r }
                if m == p { break }
                heap.swapAt(p, m)
                p = m
            }
        }
        queued[top] = false
        return top
    }
}

extension FusionRule {
    /// softmax, cross_entropy and both gradients -> one kernel giving the loss and d(logits).
    public static let softmaxCrossEntropy = FusionRule(
        name: "softmax_cross_entropy",
        summary: "softmax + cross-entropy forward and backward in one kernel (loss and d logits)",
        candidate: { $0 == .softmax }
    ) { g, s in
        let p = g.node(s).outputs[0], z = g.node(s).inputs[0]
        let readers = g.consumers(of: p)
        guard let c = readers.first(where: { g.node($0).kind == .crossEntropy && g.node($0).inputs[0] == p }),
              let cg = readers.first(where: { g.node($0).kind == .crossEntropyGrad && g.node($0).inputs[0] == p }),
              let sg = readers.first(where: { g.node($0).kind == .softmaxGrad && g.node($0).inputs[0] == p }) else { return false }
        var fused = g.node(s)
        fused.kind = .softmaxCrossEntropy
        fused.inputs = [z, g.node(c).inputs[1]]
        fused.outputs = [g.node(c).outputs[0], g.node(sg).outputs[0]]
        fused.layerType = g.node(c).layerType
        fused.fusedBy.append("softmax_cross_entropy")
        g.set(s, fused)
        g.removeNodes([c, cg, sg])
        return true
    }

    /// scale_shift_grad + layernorm_normalize_grad -> one layernorm backward kernel (dx, dweight, dbias),
    /// or the normalisation gradient alone (no affine) -> the same kernel without parameters.
    public static let layerNormBackward = FusionRule(
        name: "layernorm_backward",
        summary: "layernorm backward in one kernel giving dx, dweight and dbias from x, mean and 1/std",
        candidate: { $0 == .layerNormalizeGrad }
    ) { g, ng in
        let (dxhat, xhat, rstd) = (g.node(ng).inputs[0], g.node(ng).inputs[1], g.node(ng).inputs[2])
        guard let fwd = g.producer(of: xhat), case .layerNormalize = g.node(fwd).kind else { return false }
        let (x, mean) = (g.node(fwd).inputs[0], g.node(fwd).outputs[1])
        if let sg = g.producer(of: dxhat), g.node(sg).kind == .scaleShiftGrad {
            // One kernel for dx, dweight and dbias. When dx serves only the input gradient
            // and the parameters' gradients do not, dx becomes optional (skipped when not asked).
            var fused = g.node(sg)
            fused.kind = .layerNormGrad(affine: true)
            fused.inputs = [g.node(sg).inputs[0], x, mean, rstd, g.node(sg).inputs[2]]
            fused.outputs = [g.node(ng).outputs[0], g.node(sg).outputs[1], g.node(sg).outputs[2]]
            fused.epilogue = g.node(ng).epilogue
            fused.optionalFirstOutput = g.node(ng).inputGradientOnly && !g.node(sg).inputGradientOnly
            fused.fusedBy = Array(Set(g.node(ng).fusedBy + g.node(sg).fusedBy + ["layernorm_backward"])).sorted()
            g.set(ng, fused)
            g.removeNodes([sg])
            return true
        }
        var fused = g.node(ng)
        fused.kind = .layerNormGrad(affine: false)
        fused.inputs = [dxhat, x, mean, rstd]
        fused.fusedBy.append("layernorm_backward")
        g.set(ng, fused)
        return true
    }

    /// layernorm_normalize + scale_shift -> one kernel that keeps mean and 1/std for backward.
    public static let layerNormForward = FusionRule(
        name: "layernorm_forward",
        summary: "layernorm forward in one kernel, keeping mean and 1/std for backward",
        candidate: { if case .layerNormalize = $0 { return true }; return false }
    ) { g, n in
        guard case .layerNormalize(let eps) = g.node(n).kind else { return false }
        let xhat = g.node(n).outputs[0]
        // Backward must no longer read xhat (layernorm_backward rewrites it to read x).
        let readers = g.consumers(of: xhat)
        if let s = readers.first, readers.count == 1, g.node(s).kind == .scaleShift {
            var fused = g.node(n)
            fused.kind = .layerNorm(eps: eps, affine: true)
            fused.inputs = [g.node(n).inputs[0], g.node(s).inputs[1], g.node(s).inputs[2]]
            fused.outputs = [g.node(s).outputs[0], g.node(n).outputs[1], g.node(n).outputs[2]]
            fused.epilogue = g.node(s).epilogue
            fused.fusedBy += ["layernorm_forward"] + g.node(s).fusedBy
            g.set(n, fused)
            g.removeNodes([s])
            return true
        }
        if readers.contains(where: { g.node($0).kind == .scaleShift || g.node($0).kind == .scaleShiftGrad
            || g.node($0).kind == .layerNormalizeGrad }) { return false }
        var fused = g.node(n)
        fused.kind = .layerNorm(eps: eps, affine: false)
        fused.fusedBy.append("layernorm_forward")
        g.set(n, fused)
        return true
    }

    /// matmul + bias_add + activation (+ keeps the pre-activation only if backward needs it).
    public static let denseBiasActivation = FusionRule(
        name: "dense_bias_activation",
        summary: "dense product + bias + activation in one forward kernel (bias and activation in the epilogue)",
        candidate: biasOrActivation
    ) { g, ci in
        foldEpilogue(&g, ci, rule: "dense_bias_activation", producers: { $0 == .matmul })
    }

    /// conv1d + bias_add + activation.
    public static let conv1dBiasActivation = FusionRule(
        name: "conv1d_bias_activation",
        summary: "conv1d + bias + activation in one forward kernel",
        candidate: biasOrActivation
    ) { g, ci in
        foldEpilogue(&g, ci, rule: "conv1d_bias_activation", producers: { if case .conv1d = $0 { return true }; return false })
    }

    /// activation_grad folded into the backward product that follows the activation.
    public static let activationDerivativeIntoProduct = FusionRule(
        name: "activation_derivative_into_product",
        summary: "the activation's derivative multiplied in the epilogue of the backward product that computes its input gradient",
        candidate: { if case .activationGrad = $0 { return true }; return false }
    ) { g, ci in
        foldEpilogue(&g, ci, rule: "activation_derivative_into_product", producers: { $0.acceptsEpilogue })
    }

    /// add (residual, or gradients meeting at a fork) folded into the producer of one operand.
    public static let residualAddEpilogue = FusionRule(
        name: "residual_add_epilogue",
        summary: "a residual add (and the sum of gradients at its fork) done in the producer's epilogue",
        candidate: { $0 == .add }
    ) { g, ci in
        foldEpilogue(&g, ci, rule: "residual_add_epilogue", producers: { $0.acceptsEpilogue })
    }

    /// Any other elementwise node (bias, activation) after a kernel that takes an epilogue.
    public static let elementwiseEpilogue = FusionRule(
        name: "elementwise_epilogue",
        summary: "bias or activation after a layernorm or other kernel done in its epilogue",
        candidate: biasOrActivation
    ) { g, ci in
        foldEpilogue(&g, ci, rule: "elementwise_epilogue", producers: {
            switch $0 { case .matmul, .conv1d: return false; default: return $0.acceptsEpilogue }
        })
    }

    /// Every parameter's optimizer update -> one loop over the flat parameter array.
    public static let optimizerFlatLoop = FusionRule(
        name: "optimizer_flat_loop",
        summary: "the optimizer update of all parameters in one loop over the flat parameter array",
        candidate: { if case .optimizerUpdate = $0 { return true }; return false }
    ) { g, _ in
        // Runs once: it takes every update at once (the first by index keeps the fused node).
        let idx = g.slots.indices.filter { i in
            guard let n = g.slots[i], case .optimizerUpdate = n.kind else { return false }
            return true
        }
        guard let first = idx.first, case .optimizerUpdate(let opt) = g.node(first).kind else { return false }
        var fused = g.node(first)
        fused.kind = .optimizerStep(opt, parameterCount: g.analysis.parameterCount)
        fused.inputs = idx.map { g.node($0).inputs[0] } + idx.map { g.node($0).inputs[1] }
        fused.layerPath = "all parameters"
        fused.fusedBy.append("optimizer_flat_loop")
        g.set(first, fused)
        g.removeNodes(Array(idx.dropFirst()))
        return true
    }

    private static let biasOrActivation: @Sendable (NodeKind) -> Bool = {
        switch $0 { case .biasAdd, .activation: return true; default: return false }
    }
}

/// Folds one elementwise consumer into the kernel producing its input. The consumer must read
/// the producer's first output, run in the same phase, and read nothing produced after the
/// producer. If the intermediate has other readers, the producer also stores it. A producer
/// whose epilogue already has `maxEpilogueSteps` steps takes no more (nor its store).
private func foldEpilogue(_ g: inout FusionGraph, _ ci: Int, rule: String, producers: (NodeKind) -> Bool) -> Bool {
    let c = g.node(ci)
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
        guard let pi = g.producer(of: t), pi < ci, g.node(pi).outputs.first == t,
              producers(g.node(pi).kind), g.node(pi).phase == c.phase,
              g.node(pi).inputGradientOnly == c.inputGradientOnly else { continue }
        // Everything else the consumer reads must exist when the producer runs.
        let others = c.inputs.enumerated().filter { $0.offset != k }.map(\.element)
        guard others.allSatisfy({ o in (g.producer(of: o) ?? -1) < pi }) else { continue }
        var p = g.node(pi)
        let store = g.consumers(of: t).count > 1 || g[t].role != .temporary
        guard p.epilogue.count + (store ? 2 : 1) <= maxEpilogueSteps else { continue }
        if store { p.epilogue.append(.store(t)) }
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
        g.set(pi, p)
        g.removeNodes([ci])
        return true
    }
    return false
}
