import ModelSpec

// The network as the interpreter runs it: the analysis's flat layer list turned back into a
// tree of steps (a residual block holds its body), each with its sizes and parameter ranges
// resolved and checked once, then a forward pass that records every step's input and output
// and a backward pass that walks the record in reverse.

/// One layer, resolved: its analysis entry and what to compute.
struct Step: Sendable {
    var info: LayerInfo
    var operation: Operation
}

/// What a step computes, with everything the layer functions need.
enum Operation: Sendable {
    case dense(DenseGeometry, weight: Range<Int>, bias: Range<Int>?)
    case conv1d(Conv1dGeometry, weight: Range<Int>, bias: Range<Int>?)
    case layerNorm(LayerNormGeometry, weight: Range<Int>?, bias: Range<Int>?)
    case activation(Activation)
    case maxPool(PoolGeometry)
    case avgPool(PoolGeometry)
    case globalAvgPool(length: Int, channels: Int)
    case flatten
    case residual([Step])
}

/// One step of a forward pass: its input and output for the whole batch, and for a residual
/// block the records of its body.
struct StepRecord: Sendable {
    var step: Step
    var input: [Double]
    var output: [Double]
    var body: [StepRecord]
}

// MARK: - Building the steps

/// Turns a `ModelAnalysis` into steps, checking that every shape and parameter agrees with
/// the layers' definitions (they always do for an analysis from `Model.analyze()`).
struct NetworkBuilder {
    let analysis: ModelAnalysis

    func build() throws(ReferenceError) -> [Step] {
        var offset = 0
        for p in analysis.parameters {
            guard p.offset == offset, p.count >= 0, p.shape.reduce(1, *) == p.count else {
                throw .inconsistentAnalysis(place: p.name, reason: "parameters must lie one after another in flat order, "
                                            + "each with as many elements as its shape holds")
            }
            offset += p.count
        }
        let steps = try build(analysis.layers[...], depth: 0)
        guard steps.count == analysis.model.layers.count else {
            throw .inconsistentAnalysis(place: "layers", reason: "\(steps.count) top-level layers in the analysis, "
                                        + "\(analysis.model.layers.count) in the model")
        }
        try checkChain(steps, from: analysis.model.input.shape, to: analysis.outputShape, place: "layers")
        return steps
    }

    /// The steps of one list of layers: the entries at `depth`, each residual entry taking the
    /// deeper entries that follow it as its body.
    private func build(_ infos: ArraySlice<LayerInfo>, depth: Int) throws(ReferenceError) -> [Step] {
        var steps: [Step] = []
        var i = infos.startIndex
        while i < infos.endIndex {
            let info = infos[i]
            guard info.depth == depth else {
                throw .inconsistentAnalysis(place: info.label, reason: "depth \(info.depth) where \(depth) was expected")
            }
            if case .residual(let layers) = info.layer {
                var end = i + 1
                while end < infos.endIndex && infos[end].depth > depth { end += 1 }
                let body = try build(infos[(i + 1)..<end], depth: depth + 1)
                guard body.count == layers.count, info.output == info.input else {
                    throw .inconsistentAnalysis(place: info.label, reason: "the block's body does not match its layers")
                }
                try checkChain(body, from: info.input, to: info.input, place: info.label)
                steps.append(Step(info: info, operation: .residual(body)))
                i = end
            } else {
                steps.append(Step(info: info, operation: try operation(info)))
                i += 1
            }
        }
        return steps
    }

    /// Each step must take the shape the previous one gives.
    private func checkChain(_ steps: [Step], from start: Shape, to end: Shape, place: String) throws(ReferenceError) {
        var shape = start
        for s in steps {
            guard s.info.input == shape else {
                throw .inconsistentAnalysis(place: s.info.label, reason: "input \(s.info.input) but the previous layer gives \(shape)")
            }
            shape = s.info.output
        }
        guard shape == end else {
            throw .inconsistentAnalysis(place: place, reason: "the layers end with \(shape) instead of \(end)")
        }
    }

    /// The range of the layer's parameter with this role, which must hold `count` elements.
    private func parameter(_ info: LayerInfo, _ role: ParameterRole, count: Int) throws(ReferenceError) -> Range<Int> {
        guard let p = info.parameters.first(where: { $0.role == role }) else {
            throw .inconsistentAnalysis(place: info.label, reason: "its \(role.rawValue) is missing")
        }
        guard p.count == count, p.offset >= 0, p.offset + p.count <= analysis.parameterCount else {
            throw .inconsistentAnalysis(place: info.label, reason: "its \(role.rawValue) should hold \(count) elements")
        }
        return p.offset..<(p.offset + p.count)
    }

    private func mismatch(_ info: LayerInfo) -> ReferenceError {
        .inconsistentAnalysis(place: info.label, reason: "shapes \(info.input) -> \(info.output) do not fit the layer")
    }

    private func pool(_ info: LayerInfo, kernel: Int, stride: Int) throws(ReferenceError) -> PoolGeometry {
        guard case .sequence(let length, let channels) = info.input, kernel >= 1, stride >= 1, kernel <= length,
              info.output == .sequence(length: (length - kernel) / stride + 1, channels: channels) else {
            throw mismatch(info)
        }
        return PoolGeometry(length: length, channels: channels, kernel: kernel, stride: stride,
                            outLength: (length - kernel) / stride + 1)
    }

    private func operation(_ info: LayerInfo) throws(ReferenceError) -> Operation {
        let expected = info.layer.hasBias ? 2 : (info.layer.hasWeight ? 1 : 0)
        guard info.parameters.count == expected else {
            throw .inconsistentAnalysis(place: info.label, reason: "\(info.parameters.count) parameters where \(expected) were expected")
        }
        switch info.layer {
        case .dense(let units, let bias):
            guard case .vector(let inputs) = info.input, info.output == .vector(units) else { throw mismatch(info) }
            let g = DenseGeometry(inputs: inputs, outputs: units)
            return .dense(g, weight: try parameter(info, .weight, count: units * inputs),
                          bias: bias ? try parameter(info, .bias, count: units) : nil)
        case .conv1d(let filters, let kernel, let stride, let padding, let dilation, let bias):
            guard case .sequence(let length, let channels) = info.input, kernel >= 1, stride >= 1, dilation >= 1 else {
                throw mismatch(info)
            }
            let pads = padding.amounts(kernel: kernel, dilation: dilation)
            let reach = length + pads.left + pads.right - dilation * (kernel - 1) - 1
            guard reach >= 0, info.output == .sequence(length: reach / stride + 1, channels: filters) else {
                throw mismatch(info)
            }
            let g = Conv1dGeometry(length: length, inChannels: channels, outChannels: filters, kernel: kernel,
                                   stride: stride, dilation: dilation, padLeft: pads.left, outLength: reach / stride + 1)
            return .conv1d(g, weight: try parameter(info, .weight, count: filters * channels * kernel),
                           bias: bias ? try parameter(info, .bias, count: filters) : nil)
        case .layerNorm(let eps, let affine):
            let c = info.input.lastAxis
            guard c >= 1, info.output == info.input else { throw mismatch(info) }
            let g = LayerNormGeometry(channels: c, groupsPerRow: info.input.elementCount / c, eps: eps)
            return .layerNorm(g, weight: affine ? try parameter(info, .weight, count: c) : nil,
                              bias: affine ? try parameter(info, .bias, count: c) : nil)
        case .activation(let a):
            guard info.output == info.input else { throw mismatch(info) }
            return .activation(a)
        case .maxPool1d(let kernel, let stride):
            return .maxPool(try pool(info, kernel: kernel, stride: stride))
        case .avgPool1d(let kernel, let stride):
            return .avgPool(try pool(info, kernel: kernel, stride: stride))
        case .globalAvgPool1d:
            guard case .sequence(let length, let channels) = info.input, info.output == .vector(channels) else {
                throw mismatch(info)
            }
            return .globalAvgPool(length: length, channels: channels)
        case .flatten:
            guard info.output == .vector(info.input.elementCount) else { throw mismatch(info) }
            return .flatten
        case .residual:
            throw .inconsistentAnalysis(place: info.label, reason: "a residual block outside the block walker")
        }
    }
}

private extension Layer {
    /// Whether the layer owns a weight tensor.
    var hasWeight: Bool {
        switch self {
        case .dense, .conv1d: return true
        case .layerNorm(_, let affine): return affine
        default: return false
        }
    }

    /// Whether the layer owns a bias tensor (always with a weight).
    var hasBias: Bool {
        switch self {
        case .dense(_, let bias), .conv1d(_, _, _, _, _, let bias): return bias
        case .layerNorm(_, let affine): return affine
        default: return false
        }
    }
}

// MARK: - Forward and backward

/// The parameters in `range`, as their own array.
private func slice(_ p: [Double], _ range: Range<Int>?) -> [Double]? {
    range.map { Array(p[$0]) }
}

/// Runs `steps` on a batch of `rows` rows, recording every step.
func runForward(_ steps: [Step], _ x: [Double], rows: Int, parameters p: [Double]) -> [StepRecord] {
    var records: [StepRecord] = []
    var current = x
    for step in steps {
        var body: [StepRecord] = []
        let output: [Double]
        switch step.operation {
        case .dense(let g, let w, let b):
            output = denseForward(current, rows: rows, g, weight: Array(p[w]), bias: slice(p, b))
        case .conv1d(let g, let w, let b):
            output = conv1dForward(current, rows: rows, g, weight: Array(p[w]), bias: slice(p, b))
        case .layerNorm(let g, let w, let b):
            output = layerNormForward(current, rows: rows, g, weight: slice(p, w), bias: slice(p, b))
        case .activation(let f):
            output = activationForward(current, f)
        case .maxPool(let g):
            output = maxPoolForward(current, rows: rows, g)
        case .avgPool(let g):
            output = avgPoolForward(current, rows: rows, g)
        case .globalAvgPool(let length, let channels):
            output = globalAvgPoolForward(current, rows: rows, length: length, channels: channels)
        case .flatten:
            output = flattenForward(current)
        case .residual(let inner):
            body = runForward(inner, current, rows: rows, parameters: p)
            output = residualForward(current, body: body.last?.output ?? current)
        }
        records.append(StepRecord(step: step, input: current, output: output, body: body))
        current = output
    }
    return records
}

/// Adds `values` into `gradients[range]`.
private func accumulate(_ values: [Double], into gradients: inout [Double], at range: Range<Int>?) {
    guard let range else { return }
    for (k, i) in range.enumerated() { gradients[i] += values[k] }
}

/// Walks `records` backwards from `dy = dL/d(output of the last record)`, adding parameter
/// gradients into `gradients` (flat layout) and returning `dL/d(input of the first record)`.
func runBackward(_ records: [StepRecord], _ dy: [Double], rows: Int, parameters p: [Double],
                 gradients: inout [Double]) -> [Double] {
    var d = dy
    for record in records.reversed() {
        let x = record.input
        switch record.step.operation {
        case .dense(let g, let w, let b):
            let grads = denseBackward(x, d, rows: rows, g, weight: Array(p[w]))
            accumulate(grads.weight, into: &gradients, at: w)
            accumulate(grads.bias, into: &gradients, at: b)
            d = grads.input
        case .conv1d(let g, let w, let b):
            let grads = conv1dBackward(x, d, rows: rows, g, weight: Array(p[w]))
            accumulate(grads.weight, into: &gradients, at: w)
            accumulate(grads.bias, into: &gradients, at: b)
            d = grads.input
        case .layerNorm(let g, let w, let b):
            let grads = layerNormBackward(x, d, rows: rows, g, weight: slice(p, w))
            accumulate(grads.weight, into: &gradients, at: w)
            accumulate(grads.bias, into: &gradients, at: b)
            d = grads.input
        case .activation(let f):
            d = activationBackward(x, d, f)
        case .maxPool(let g):
            d = maxPoolBackward(x, d, rows: rows, g)
        case .avgPool(let g):
            d = avgPoolBackward(d, rows: rows, g)
        case .globalAvgPool(let length, let channels):
            d = globalAvgPoolBackward(d, rows: rows, length: length, channels: channels)
        case .flatten:
            d = flattenBackward(d)
        case .residual:
            let bodyInput = runBackward(record.body, d, rows: rows, parameters: p, gradients: &gradients)
            d = residualBackward(d, bodyInputGradient: bodyInput)
        }
    }
    return d
}

/// The records in the analysis's order: depth first, a residual block before its body.
func flattenRecords(_ records: [StepRecord]) -> [StepRecord] {
    records.flatMap { [$0] + flattenRecords($0.body) }
}
