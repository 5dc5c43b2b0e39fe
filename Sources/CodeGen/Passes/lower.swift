import ModelSpec

/// Lowers a validated model to the forward graph: one primitive node per piece of math
/// (a dense layer becomes `matmul` then `bias_add`; softmax cross-entropy becomes `softmax`
/// then `cross_entropy`), ending in the loss.
public func lower(_ analysis: ModelAnalysis) -> Graph {
    var b = Lowering(analysis: analysis)
    b.run()
    return b.graph
}

private struct Lowering {
    var graph: Graph
    var infoIndex = 0
    let batch: Int

    init(analysis: ModelAnalysis) {
        graph = Graph(analysis: analysis)
        batch = analysis.model.batch
    }

    func dims(_ s: Shape) -> [Int] { [batch] + s.dimensions }

    mutating func node(_ kind: NodeKind, _ inputs: [TensorID], _ outputs: [TensorID], _ info: LayerInfo) {
        graph.nodes.append(Node(kind: kind, inputs: inputs, outputs: outputs, layerPath: info.path,
                                layerType: info.layer.typeName, phase: .forward))
    }

    mutating func param(_ info: LayerInfo, _ role: ParameterRole) -> TensorID? {
        guard let p = info.parameters.first(where: { $0.role == role }) else { return nil }
        let id = graph.addTensor(p.name, p.shape, .parameter(p))
        graph.parameterTensors[p.name] = id
        return id
    }

    mutating func run() {
        let a = graph.analysis
        graph.input = graph.addTensor("x", dims(a.model.input.shape), .input)
        graph.target = graph.addTensor("y", a.model.loss.usesLabels ? [batch] : [batch, a.outputCount], .target)
        let out = lowerList(a.model.layers, graph.input)
        graph.output = out
        graph.loss = graph.addTensor("loss", [], .loss)
        func lossNode(_ kind: NodeKind, _ inputs: [TensorID], _ outputs: [TensorID]) {
            graph.nodes.append(Node(kind: kind, inputs: inputs, outputs: outputs, layerPath: "loss",
                                    layerType: a.model.loss.typeName, phase: .forward))
        }
        switch a.model.loss {
        case .softmaxCrossEntropy:
            let p = graph.addTensor("probs", graph[out].shape)
            lossNode(.softmax, [out], [p])
            lossNode(.crossEntropy, [p, graph.target], [graph.loss])
        case .mse:
            lossNode(.mse, [out, graph.target], [graph.loss])
        case .bceWithLogits:
            lossNode(.bceWithLogits, [out, graph.target], [graph.loss])
        case .huber(let delta):
            lossNode(.huber(delta: delta), [out, graph.target], [graph.loss])
        }
    }

    mutating func lowerList(_ layers: [Layer], _ start: TensorID) -> TensorID {
        var x = start
        for _ in layers {
            x = lowerLayer(x)
        }
        return x
    }

    /// Lowers the next layer of the analysis (depth-first order) applied to `x`.
    mutating func lowerLayer(_ x: TensorID) -> TensorID {
        let info = graph.analysis.layers[infoIndex]
        infoIndex += 1
        let outShape = dims(info.output)
        let tag = info.parameterPrefix
        switch info.layer {
        case .dense:
            let w = param(info, .weight)!
            let y = graph.addTensor("\(tag).matmul", outShape)
            node(.matmul, [x, w], [y], info)
            guard let bias = param(info, .bias) else { return y }
            let z = graph.addTensor("\(tag).out", outShape)
            node(.biasAdd, [y, bias], [z], info)
            return z
        case .conv1d(_, let kernel, let stride, let padding, let dilation, _):
            guard case .sequence(let len, let ch) = info.input, case .sequence(let outLen, let filters) = info.output else {
                preconditionFailure("conv1d shapes were validated")
            }
            let attrs = Conv1DAttributes(kernel: kernel, stride: stride, dilation: dilation,
                                         padLeft: padding.amounts(kernel: kernel, dilation: dilation).left,
                                         inLength: len, outLength: outLen, inChannels: ch, outChannels: filters)
            let w = param(info, .weight)!
            let y = graph.addTensor("\(tag).conv", outShape)
            node(.conv1d(attrs), [x, w], [y], info)
            guard let bias = param(info, .bias) else { return y }
            let z = graph.addTensor("\(tag).out", outShape)
            node(.biasAdd, [y, bias], [z], info)
            return z
        case .layerNorm(let eps, let affine):
            let rows = outShape.dropLast().reduce(1, *)
            let xhat = graph.addTensor("\(tag).xhat", outShape)
            let mean = graph.addTensor("\(tag).mean", [rows])
            let rstd = graph.addTensor("\(tag).rstd", [rows])
            node(.layerNormalize(eps: eps), [x], [xhat, mean, rstd], info)
            guard affine else { return xhat }
            let w = param(info, .weight)!, b = param(info, .bias)!
            let y = graph.addTensor("\(tag).out", outShape)
            node(.scaleShift, [xhat, w, b], [y], info)
            return y
        case .activation(let a):
            let y = graph.addTensor("\(tag).out", outShape)
            node(.activation(a), [x], [y], info)
            return y
        case .maxPool1d(let k, let s):
            let y = graph.addTensor("\(tag).out", outShape)
            node(.maxPool1d(kernel: k, stride: s), [x], [y], info)
            return y
        case .avgPool1d(let k, let s):
            let y = graph.addTensor("\(tag).out", outShape)
            node(.avgPool1d(kernel: k, stride: s), [x], [y], info)
            return y
        case .globalAvgPool1d:
            let y = graph.addTensor("\(tag).out", outShape)
            node(.globalAvgPool1d, [x], [y], info)
            return y
        case .flatten:
            let y = graph.addTensor("\(tag).out", outShape)
            node(.reshape, [x], [y], info)
            return y
        case .residual(let body):
            let f = lowerList(body, x)
            let y = graph.addTensor("\(tag).out", outShape)
            node(.add, [f, x], [y], info)
            return y
        }
    }
}
