import ModelSpec

/// Reverse-mode automatic differentiation of a forward graph.
///
/// Walks the forward nodes from last to first and applies one vector-Jacobian rule per node
/// kind (`vjp` below), so any combination of layers composes without a hand-written backward.
/// Gradients that meet at a fork (a residual block's input) are summed with `add` nodes.
/// Only tensors that lead to a trainable parameter (or to the input, when `inputGradient` is
/// true) get gradients: a frozen parameter (`ParameterInfo.trainable`) gets no gradient, and the
/// backward pass stops before the first trainable parameter. After the backward nodes come one
/// `optimizerUpdate` node per trainable parameter.
public func differentiate(_ forward: Graph, inputGradient: Bool = true) -> Graph {
    var d = Differentiation(graph: forward, inputGradient: inputGradient)
    d.run()
    return d.graph
}

private struct Differentiation {
    var graph: Graph
    let inputGradient: Bool
    var requiresGrad = Set<TensorID>()
    /// Gradient contributions per forward tensor, in the order they were made.
    var contributions: [TensorID: [TensorID]] = [:]
    var current: Node?

    init(graph: Graph, inputGradient: Bool) {
        self.graph = graph
        self.inputGradient = inputGradient
    }

    mutating func run() {
        // Which tensors depend on something trainable (or on the input, if its gradient is wanted).
        if inputGradient { requiresGrad.insert(graph.input) }
        for t in graph.tensors { if case .parameter(let p) = t.role, p.trainable { requiresGrad.insert(t.id) } }
        for n in graph.nodes where n.inputs.contains(where: requiresGrad.contains) {
            n.outputs.forEach { requiresGrad.insert($0) }
        }
        let forwardNodes = graph.nodes
        for n in forwardNodes.reversed() {
            current = n
            vjp(n)
        }
        // The input gradient: the sum of its contributions.
        if inputGradient, let dx = gradient(of: graph.input, path: "input", type: "input") {
            graph.tensors[dx.raw].role = .inputGradient
            graph.tensors[dx.raw].name = "grad(x)"
            graph.inputGradient = dx
        }
        markInputGradientOnly()
        for p in graph.analysis.parameters {
            guard let pt = graph.parameterTensors[p.name], let g = graph.parameterGradients[p.name] else { continue }
            graph.nodes.append(Node(kind: .optimizerUpdate(graph.analysis.model.optimizer), inputs: [pt, g], outputs: [],
                                    layerPath: p.layerPath, layerType: "optimizer", phase: .update))
        }
    }

    /// Adds a backward node for the current forward node.
    mutating func emit(_ kind: NodeKind, _ inputs: [TensorID], _ outputs: [TensorID]) {
        guard let c = current else { return }
        graph.nodes.append(Node(kind: kind, inputs: inputs, outputs: outputs, layerPath: c.layerPath,
                                layerType: c.layerType, phase: .backward))
    }

    /// A new gradient tensor shaped like `t`.
    mutating func gradTensor(for t: TensorID) -> TensorID {
        graph.addTensor("grad(\(graph[t].name))", graph[t].shape)
    }

    /// The gradient tensor of a parameter (a slice of the flat gradient array).
    mutating func parameterGradient(_ t: TensorID) -> TensorID {
        guard case .parameter(let p) = graph[t].role else { return gradTensor(for: t) }
        let g = graph.addTensor("grad(\(p.name))", p.shape, .parameterGradient(p))
        graph.parameterGradients[p.name] = g
        return g
    }

    mutating func contribute(_ t: TensorID, _ g: TensorID) {
        guard requiresGrad.contains(t) else { return }
        contributions[t, default: []].append(g)
    }

    /// The total gradient of `t`: nil if nothing flows into it; the sum (with `add` nodes) if several do.
    mutating func gradient(of t: TensorID, path: String? = nil, type: String? = nil) -> TensorID? {
        guard let parts = contributions[t], var total = parts.first else { return nil }
        for part in parts.dropFirst() {
            let sum = gradTensor(for: t)
            graph.nodes.append(Node(kind: .add, inputs: [part, total], outputs: [sum],
                                    layerPath: path ?? current?.layerPath ?? "", layerType: type ?? current?.layerType ?? "",
                                    phase: .backward))
            total = sum
        }
        return total
    }

    /// One vector-Jacobian rule per node kind.
    mutating func vjp(_ n: Node) {
        switch n.kind {
        case .crossEntropy:
            let p = n.inputs[0]
            let dp = gradTensor(for: p)
            emit(.crossEntropyGrad, [p, n.inputs[1]], [dp])
            contribute(p, dp)
            return
        case .mse, .bceWithLogits:
            let z = n.inputs[0]
            let dz = gradTensor(for: z)
            emit(n.kind == .mse ? .mseGrad : .bceWithLogitsGrad, [z, n.inputs[1]], [dz])
            contribute(z, dz)
            return
        case .huber(let delta):
            let z = n.inputs[0]
            let dz = gradTensor(for: z)
            emit(.huberGrad(delta: delta), [z, n.inputs[1]], [dz])
            contribute(z, dz)
            return
        default:
            break
        }
        guard let y = n.outputs.first, requiresGrad.contains(y), let dy = gradient(of: y) else { return }
        switch n.kind {
        case .matmul:
            let (x, w) = (n.inputs[0], n.inputs[1])
            if requiresGrad.contains(w) { emit(.matmulGradWeight, [dy, x], [parameterGradient(w)]) }
            if requiresGrad.contains(x) {
                let dx = gradTensor(for: x)
                emit(.matmulGradInput, [dy, w], [dx])
                contribute(x, dx)
            }
        case .biasAdd:
            if requiresGrad.contains(n.inputs[1]) { emit(.biasGrad, [dy], [parameterGradient(n.inputs[1])]) }
            contribute(n.inputs[0], dy)
        case .activation(let a):
            let x = n.inputs[0]
            guard requiresGrad.contains(x) else { return }
            let dx = gradTensor(for: x)
            let fromOutput = a.derivativeFromOutput
            emit(.activationGrad(a, fromOutput: fromOutput), [fromOutput ? y : x, dy], [dx])
            contribute(x, dx)
        case .conv1d(let attrs):
            let (x, w) = (n.inputs[0], n.inputs[1])
            if requiresGrad.contains(w) { emit(.conv1dGradWeight(attrs), [dy, x], [parameterGradient(w)]) }
            if requiresGrad.contains(x) {
                let dx = gradTensor(for: x)
                emit(.conv1dGradInput(attrs), [dy, w], [dx])
                contribute(x, dx)
            }
        case .layerNormalize:
            let x = n.inputs[0]
            guard requiresGrad.contains(x) else { return }
            let dx = gradTensor(for: x)
            emit(.layerNormalizeGrad, [dy, n.outputs[0], n.outputs[2]], [dx])
            contribute(x, dx)
        case .scaleShift:
            let (xhat, w, b) = (n.inputs[0], n.inputs[1], n.inputs[2])
            let dxhat = gradTensor(for: xhat)
            // A frozen scale or shift still gets its sums, into scratch (they are [C] wide).
            let dw = requiresGrad.contains(w) ? parameterGradient(w) : gradTensor(for: w)
            let db = requiresGrad.contains(b) ? parameterGradient(b) : gradTensor(for: b)
            emit(.scaleShiftGrad, [dy, xhat, w], [dxhat, dw, db])
            contribute(xhat, dxhat)
        case .maxPool1d(let k, let s):
            let x = n.inputs[0]
            guard requiresGrad.contains(x) else { return }
            let dx = gradTensor(for: x)
            emit(.maxPool1dGrad(kernel: k, stride: s), [dy, x], [dx])
            contribute(x, dx)
        case .avgPool1d(let k, let s):
            let x = n.inputs[0]
            guard requiresGrad.contains(x) else { return }
            let dx = gradTensor(for: x)
            emit(.avgPool1dGrad(kernel: k, stride: s), [dy], [dx])
            contribute(x, dx)
        case .globalAvgPool1d:
            let x = n.inputs[0]
            guard requiresGrad.contains(x) else { return }
            let dx = gradTensor(for: x)
            emit(.globalAvgPool1dGrad, [dy], [dx])
            contribute(x, dx)
        case .reshape:
            let x = n.inputs[0]
            guard requiresGrad.contains(x) else { return }
            let dx = gradTensor(for: x)
            emit(.reshape, [dy], [dx])
            contribute(x, dx)
        case .add:
            contribute(n.inputs[0], dy)
            contribute(n.inputs[1], dy)
        case .softmax:
            let z = n.inputs[0]
            let dz = gradTensor(for: z)
            emit(.softmaxGrad, [y, dy], [dz])
            contribute(z, dz)
        default:
            break
        }
    }

    /// Marks backward nodes that only serve the input gradient, so they run only when asked.
    mutating func markInputGradientOnly() {
        guard graph.inputGradient != nil else { return }
        var needed = Set<TensorID>(graph.parameterGradients.values)
        var forParams = Set<Int>()
        for i in graph.nodes.indices.reversed() where graph.nodes[i].phase == .backward {
            if graph.nodes[i].writes.contains(where: needed.contains) {
                forParams.insert(i)
                graph.nodes[i].reads.forEach { needed.insert($0) }
            }
        }
        for i in graph.nodes.indices where graph.nodes[i].phase == .backward && !forParams.contains(i) {
            graph.nodes[i].inputGradientOnly = true
        }
    }
}
