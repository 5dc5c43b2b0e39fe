import ModelSpec

/// One C function made from one (possibly fused) node.
struct Kernel {
    /// The function's name, after the layer it came from.
    var name: String
    /// The comment above it: layer, shapes, fusion rules.
    var comment: String
    /// Parameters in order: the tensor each one receives and whether the kernel writes it.
    var params: [(name: String, tensor: TensorID, writes: Bool)]
    /// The body, without braces, indented 4 spaces.
    var body: String
    /// Whether this node must be skipped when the caller gives no input-gradient buffer.
    var inputGradientOnly: Bool
    /// An output the kernel computes only when its pointer is not NULL (see `Node.optionalFirstOutput`).
    var optionalOutput: TensorID? = nil
    /// Elements of arena scratch the kernel uses (its last parameter, `scratch`, when > 0).
    var scratch = 0
}

/// What a layer family's writer gives for one node: the parameters, the body, what the
/// kernel does (the end of its name) and the math for its comment.
struct KernelParts {
    /// Parameter names, the tensors they receive, and whether the kernel writes them.
    var params: [(String, TensorID, Bool)] = []
    /// The body, without braces.
    var body = ""
    /// The end of the function's name (`forward`, `backward_weight`...).
    var what: String
    /// The math, for the comment above the function.
    var doc = ""
    /// Elements of arena scratch.
    var scratch = 0

    init(_ n: Node) { what = n.kind.name }
}

/// Builds the C text of kernels. The kernels of each layer family are written in a file of
/// their own (DenseKernels, Conv1DKernels, LayerNormKernels, PoolingKernels, LossKernels,
/// ElementwiseKernels); this file picks the writer for a node and names the function.
struct KernelWriter {
    let graph: Graph
    let c: CSyntax
    var usedNames = Set<String>()
    /// Per base name, the suffix its next search starts from (the ones below are taken).
    var nextSuffix: [String: Int] = [:]

    init(graph: Graph, scalar: ScalarType) {
        self.graph = graph
        self.c = CSyntax(scalar: scalar)
    }

    var R: String { c.real }

    func shape(_ t: TensorID) -> [Int] { graph[t].shape }
    func count(_ t: TensorID) -> Int { graph[t].count }

    /// A unique function name from the layer path and what the kernel does.
    mutating func uniqueName(_ base: String) -> String {
        var name = base, k = nextSuffix[base] ?? 2
        if k > 2 { name = "\(base)_\(k)" }
        while usedNames.contains(name) { name = "\(base)_\(k)"; k += 1 }
        nextSuffix[base] = k
        usedNames.insert(name)
        return name
    }

    /// The kernel of one node; nil for nodes that need no code (a reshape is an alias; the
    /// optimizer runs as one loop over all parameters, `NAME_optimizer`).
    mutating func kernel(for n: Node) -> Kernel? {
        let parts: KernelParts
        switch n.kind {
        case .reshape, .optimizerUpdate, .optimizerStep: return nil
        case .matmul: parts = denseForward(n)
        case .matmulGradInput: parts = denseBackwardInput(n)
        case .matmulGradWeight: parts = denseBackwardWeight(n)
        case .biasAdd: parts = biasAdd(n)
        case .biasGrad: parts = biasBackward(n)
        case .activation(let a): parts = activation(n, a)
        case .activationGrad(let a, let fromOutput): parts = activationBackward(n, a, fromOutput: fromOutput)
        case .add: parts = add(n)
        case .conv1d(let at) where convForwardFits(at): parts = conv1dForwardProduct(n, at)
        case .conv1dGradInput(let at) where convInputFits(at): parts = conv1dBackwardInputProduct(n, at)
        case .conv1dGradWeight(let at) where convWeightFits(at): parts = conv1dBackwardWeightProduct(n, at)
        case .conv1d(let at): parts = conv1dForward(n, at)
        case .conv1dGradInput(let at): parts = conv1dBackwardInput(n, at)
        case .conv1dGradWeight(let at): parts = conv1dBackwardWeight(n, at)
        case .layerNormalize(let eps): parts = layerNormalize(n, eps: eps)
        case .layerNorm(let eps, let affine): parts = layerNorm(n, eps: eps, affine: affine)
        case .scaleShift: parts = scaleShift(n)
        case .scaleShiftGrad: parts = scaleShiftBackward(n)
        case .layerNormalizeGrad: parts = layerNormalizeBackward(n)
        case .layerNormGrad(let affine): parts = layerNormBackward(n, affine: affine)
        case .maxPool1d(let k, let s), .avgPool1d(let k, let s): parts = pool(n, kernel: k, stride: s)
        case .maxPool1dGrad(let k, let s): parts = maxPoolBackward(n, kernel: k, stride: s)
        case .avgPool1dGrad(let k, let s): parts = avgPoolBackward(n, kernel: k, stride: s)
        case .globalAvgPool1d: parts = globalAvgPool(n)
        case .globalAvgPool1dGrad: parts = globalAvgPoolBackward(n)
        case .softmax: parts = softmax(n)
        case .crossEntropy: parts = crossEntropy(n)
        case .crossEntropyGrad: parts = crossEntropyBackward(n)
        case .softmaxGrad: parts = softmaxBackward(n)
        case .softmaxCrossEntropy: parts = softmaxCrossEntropy(n)
        case .mse: parts = mse(n)
        case .mseGrad: parts = mseBackward(n)
        case .bceWithLogits: parts = bceWithLogits(n)
        case .bceWithLogitsGrad: parts = bceWithLogitsBackward(n)
        case .huber(let delta): parts = huber(n, delta: delta)
        case .huberGrad(let delta): parts = huberBackward(n, delta: delta)
        }
        let base = cIdentifier(n.layerPath) + "_" + (n.layerType.isEmpty ? "" : n.layerType + "_") + parts.what
        let name = uniqueName(base)
        let fused = n.fusedBy.isEmpty ? "" : "\n * fused: " + n.fusedBy.joined(separator: ", ")
        let comment = "/* \(n.layerPath) (\(n.layerType)), \(n.phase.rawValue): \(parts.doc.trimmingCharacters(in: " "))\(fused) */"
        return Kernel(name: name, comment: comment, params: parts.params.map { (name: $0.0, tensor: $0.1, writes: $0.2) },
                      body: parts.body, inputGradientOnly: n.inputGradientOnly,
                      optionalOutput: n.optionalFirstOutput ? n.outputs.first : nil, scratch: parts.scratch)
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = self[...]
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
