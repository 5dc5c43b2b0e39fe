/// What a parameter tensor is for.
public enum ParameterRole: String, Hashable, Sendable {
    case weight, bias
}

/// How a parameter starts (docs/CONVENTIONS.md "Initial values").
public enum ParameterInit: Hashable, Sendable {
    /// Drawn from `U(-bound, bound)` with `bound = 1/sqrt(fan_in)`, one draw per element in order.
    case uniform(bound: Double)
    /// Every element set to this value (layernorm: weight 1, bias 0); no draws.
    case constant(Double)
}

/// One parameter tensor, placed in the model's flat parameter array.
///
/// Order: layers in model order, depth first through residual blocks; within a layer its
/// weight, then its bias. Offsets are in elements from the start of the flat array, with no
/// gaps. Gradients and each slot of optimizer state use the same offsets in their own arrays.
public struct ParameterInfo: Hashable, Sendable {
    /// The safetensors name, e.g. `layers.2.layers.1.weight`.
    public var name: String
    /// The shape in PyTorch layout (`[out, in]`, `[out_ch, in_ch, kernel]`, `[C]`).
    public var shape: [Int]
    /// Elements.
    public var count: Int
    /// Offset in elements in the flat array.
    public var offset: Int
    /// Weight or bias.
    public var role: ParameterRole
    /// The path of the layer that owns it, e.g. `layers[2].layers[1]`.
    public var layerPath: String
    /// How it is initialised.
    public var initializer: ParameterInit
    /// Whether training updates it (`Model.trainable`); a frozen parameter has no gradient,
    /// no optimizer state and keeps its value.
    public var trainable: Bool = true
    /// Offset in elements in the flat gradient array, which holds the trainable parameters only,
    /// in parameter order (equal to `offset` when every parameter trains); nil when frozen.
    /// Each slot of optimizer state uses the same offsets.
    public var gradientOffset: Int? = nil
}

/// One layer with its shapes, resolved options and costs.
public struct LayerInfo: Hashable, Sendable {
    /// `layers[3]` or `layers[3].layers[1]`.
    public var path: String
    /// The prefix of parameter names, `layers.3` or `layers.3.layers.1`.
    public var parameterPrefix: String
    /// 0 for top-level layers, 1 inside one residual block, ...
    public var depth: Int
    /// The layer.
    public var layer: Layer
    /// Shape of one sample entering the layer.
    public var input: Shape
    /// Shape of one sample leaving the layer.
    public var output: Shape
    /// The layer's own parameters (a residual block lists none itself; its body's layers do).
    public var parameters: [ParameterInfo]
    /// Forward FLOPs for the whole batch by docs/BENCHMARKS.md (`2*M*N*K` per product; 0 otherwise).
    /// A residual block counts its body.
    public var forwardFLOPs: Int

    /// `layers[3] (conv1d)`: how errors and tables name the layer.
    public var label: String { "\(path) (\(layer.typeName))" }
    /// Parameter elements of this layer (0 for a residual block itself).
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}

/// A validated model with every shape, parameter and cost worked out.
public struct ModelAnalysis: Hashable, Sendable {
    /// The model analysed.
    public var model: Model
    /// Every layer, depth first (a residual block comes before the layers of its body).
    public var layers: [LayerInfo]
    /// Every parameter tensor in flat-array order.
    public var parameters: [ParameterInfo]
    /// The shape of one sample of the output.
    public var outputShape: Shape
    /// The model file it was read from (`analyze(file:)`), which its errors name; nil for a
    /// model built in code.
    public var file: String? = nil

    /// `model.validate(for:file:)` with this analysis's file: the model's constants against the
    /// scalar type code is generated for. Every path that generates code calls it once.
    /// - Throws: `ModelSpecError` naming the file (when there is one), each field, the value and the dtype.
    public func validate(for scalar: ScalarType) throws {
        try model.validate(for: scalar, file: file)
    }

    /// Total parameter elements.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
    /// Forward FLOPs for one batch (docs/BENCHMARKS.md).
    public var forwardFLOPs: Int { layers.filter { $0.depth == 0 }.reduce(0) { $0 + $1.forwardFLOPs } }
    /// FLOPs of one training step: forward times 3.
    public var trainingStepFLOPs: Int { 3 * forwardFLOPs }
    /// The number of model outputs per sample (classes for softmax cross-entropy).
    public var outputCount: Int { outputShape.elementCount }
    /// Elements of every layer output for the batch, summed (the naive activation memory,
    /// input excluded).
    public var naiveActivationElements: Int {
        layers.reduce(0) { $0 + $1.output.elementCount * model.batch }
    }
    /// Elements of one batch of input.
    public var inputElements: Int { model.batch * model.input.shape.elementCount }
    /// Elements of one batch of targets: `B` labels or `B * outputs` values.
    public var targetElements: Int { model.loss.usesLabels ? model.batch : model.batch * outputCount }
    /// Trainable parameter elements: the size of the flat gradient array.
    public var gradientCount: Int { parameters.reduce(0) { $0 + ($1.trainable ? $1.count : 0) } }
    /// Whether some parameter is frozen (`Model.trainable`).
    public var hasFrozenParameters: Bool { parameters.contains { !$0.trainable } }
    /// Optimizer state elements (slots times trainable parameters).
    public var optimizerStateElements: Int { model.optimizer.stateSlotsPerParameter * gradientCount }
    /// FLOPs of one training step with the model's frozen parameters (docs/BENCHMARKS.md's
    /// counting): the forward pass, plus for each layer's products a weight gradient where its
    /// weight trains and an input gradient where some parameter before it trains. With nothing
    /// frozen this is `trainingStepFLOPs` (forward times 3).
    public var trainableStepFLOPs: Int {
        guard hasFrozenParameters else { return trainingStepFLOPs }
        var total = forwardFLOPs
        var trainableBefore = false
        for l in layers {
            if case .residual = l.layer { continue }
            if l.parameters.contains(where: { $0.role == .weight && $0.trainable }) { total += l.forwardFLOPs }
            if trainableBefore { total += l.forwardFLOPs }
            if l.parameters.contains(where: \.trainable) { trainableBefore = true }
        }
        return total
    }

    /// The parameter with this name.
    public func parameter(named name: String) -> ParameterInfo? {
        parameters.first { $0.name == name }
    }
}
