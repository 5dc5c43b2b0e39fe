/// A complete description of a fixed-shape training job: the network, the batch size, the
/// loss and the optimizer. Every number follows `docs/CONVENTIONS.md`.
public struct Model: Hashable, Sendable {
    /// The model's name; it becomes the prefix of C identifiers, so it must match
    /// `[A-Za-z_][A-Za-z0-9_]*` and be at most 64 characters (see `validate()`).
    public var name: String
    /// The shape of one sample.
    public var input: InputShape
    /// The fixed batch size.
    public var batch: Int
    /// The layers, first to last.
    public var layers: [Layer]
    /// The loss applied to the last layer's output.
    public var loss: Loss
    /// The optimizer.
    public var optimizer: Optimizer
    /// Whether training standardises the input features (mean 0, std 1 from the training
    /// part of the data). Stored in the model file as `"standardize"`; default false.
    public var standardize: Bool
    /// Which parameters training updates, by layer path (`layers[2]`, `layers[2].layers[1]`);
    /// a layer not listed takes its enclosing residual block's setting, else `.all`. Stored in
    /// the model file as each layer's `"trainable"` field (see `Trainable`).
    public var trainable: [String: Trainable]

    /// Creates a model from its parts.
    public init(name: String, input: InputShape, batch: Int, layers: [Layer],
                loss: Loss, optimizer: Optimizer = .adam(), standardize: Bool = false,
                trainable: [String: Trainable] = [:]) {
        self.trainable = trainable
        self.name = name
        self.input = input
        self.batch = batch
        self.layers = layers
        self.loss = loss
        self.optimizer = optimizer
        self.standardize = standardize
    }
}

/// The shape of one sample, without the batch dimension.
public enum InputShape: Hashable, Sendable {
    /// A vector of `F` features: the batch is `[B, F]`.
    case features(Int)
    /// A sequence of `length` positions with `channels` values each: the batch is `[B, L, C]`.
    case sequence(length: Int, channels: Int)

    /// The shape this input gives the first layer.
    public var shape: Shape {
        switch self {
        case .features(let f): return .vector(f)
        case .sequence(let l, let c): return .sequence(length: l, channels: c)
        }
    }
}

/// The shape of one sample's activation (batch excluded).
public enum Shape: Hashable, Sendable, CustomStringConvertible {
    case vector(Int)
    case sequence(length: Int, channels: Int)

    /// The number of elements of one sample.
    public var elementCount: Int {
        switch self {
        case .vector(let f): return f
        case .sequence(let l, let c): return l.multipliedReportingOverflow(by: c).overflow ? Int.max : l * c
        }
    }

    /// The dimensions, e.g. `[64]` or `[8, 8]`.
    public var dimensions: [Int] {
        switch self {
        case .vector(let f): return [f]
        case .sequence(let l, let c): return [l, c]
        }
    }

    /// The size of the last axis (features or channels).
    public var lastAxis: Int {
        switch self {
        case .vector(let f): return f
        case .sequence(_, let c): return c
        }
    }

    public var description: String {
        "[" + dimensions.map(String.init).joined(separator: ", ") + "]"
    }
}

/// Conv1d padding: an integer pads that many zeros on both sides; `valid` is 0; `same`
/// (stride 1 only) pads `dilation*(kernel-1)` in total, the smaller half on the left.
public enum Padding: Hashable, Sendable {
    case explicit(Int)
    case valid
    case same

    /// Zeros added on the left and on the right for a kernel and dilation.
    public func amounts(kernel: Int, dilation: Int) -> (left: Int, right: Int) {
        switch self {
        case .explicit(let p): return (p, p)
        case .valid: return (0, 0)
        case .same:
            let total = dilation * (kernel - 1)
            return (total / 2, total - total / 2)
        }
    }
}

/// One layer of a network. Layers without parameters still take an index in the
/// parameter names (`layers.{i}.weight`).
public indirect enum Layer: Hashable, Sendable {
    /// `y = x W^T + b`; weight `[units, in]`, bias `[units]`.
    case dense(units: Int, bias: Bool = true)
    /// Cross-correlation over positions; weight `[filters, in_ch, kernel]`, bias `[filters]`.
    case conv1d(filters: Int, kernel: Int, stride: Int = 1, padding: Padding = .explicit(0),
                dilation: Int = 1, bias: Bool = true)
    /// Normalisation over the last axis; weight (starts at 1) and bias (starts at 0) `[C]` when affine.
    case layerNorm(eps: Double = 1e-5, affine: Bool = true)
    /// An elementwise activation; its type name in model files is the activation's own.
    case activation(Activation)
    /// Max over windows of positions, per channel, no padding.
    case maxPool1d(kernel: Int, stride: Int)
    /// Mean over windows of positions, per channel, no padding.
    case avgPool1d(kernel: Int, stride: Int)
    /// `[L, C] -> [C]`, the mean over positions.
    case globalAvgPool1d
    /// `[L, C] -> [L*C]`, position-major.
    case flatten
    /// `y = x + f(x)` where `f` is the nested layers and must keep the shape.
    case residual([Layer])

    /// The layer's type name as written in model files (`"dense"`, `"leaky_relu"`, ...).
    public var typeName: String {
        switch self {
        case .dense: return "dense"
        case .conv1d: return "conv1d"
        case .layerNorm: return "layernorm"
        case .activation(let a): return a.name
        case .maxPool1d: return "maxpool1d"
        case .avgPool1d: return "avgpool1d"
        case .globalAvgPool1d: return "global_avg_pool1d"
        case .flatten: return "flatten"
        case .residual: return "residual"
        }
    }

    /// Every layer type name a model file may use.
    public static let typeNames = ["dense", "conv1d", "layernorm"] + Activation.allTypeNames
        + ["maxpool1d", "avgpool1d", "global_avg_pool1d", "flatten", "residual"]

    /// Whether this is an elementwise activation (`Activation.allTypeNames`).
    public var isActivation: Bool {
        if case .activation = self { return true }
        return false
    }
}

/// The loss, a mean over the batch (see docs/CONVENTIONS.md).
public enum Loss: Hashable, Sendable {
    /// Mean over all elements of `(yhat - y)^2`.
    case mse
    /// Mean over elements of `log(1 + exp(z)) - y z`.
    case bceWithLogits
    /// Mean over the batch of `-log softmax(z)[label]`; labels are integers.
    case softmaxCrossEntropy
    /// Mean over all elements of `0.5 d^2` where `|d| < delta`, else `delta (|d| - 0.5 delta)`,
    /// `d = yhat - y` (PyTorch's HuberLoss, mean reduction).
    case huber(delta: Double = 1.0)

    /// Every loss (huber with its default delta).
    public static let allCases: [Loss] = [.mse, .bceWithLogits, .softmaxCrossEntropy, .huber()]

    /// The type name in model files (`"mse"`, `"softmax_cross_entropy"`, ...).
    public var typeName: String {
        switch self {
        case .mse: return "mse"
        case .bceWithLogits: return "bce_with_logits"
        case .softmaxCrossEntropy: return "softmax_cross_entropy"
        case .huber: return "huber"
        }
    }

    /// The loss a model-file type name stands for (huber with its default delta).
    public init?(typeName: String) {
        guard let l = Loss.allCases.first(where: { $0.typeName == typeName }) else { return nil }
        self = l
    }

    /// What the model's outputs are trained to give.
    public enum Targets: Sendable {
        /// Class labels, one integer per sample (`[B]`); outputs are logits.
        case labels
        /// 0/1 targets per output; outputs are logits.
        case binary
        /// Real values per output (regression).
        case values
    }

    /// What the targets are.
    public var targets: Targets {
        switch self {
        case .softmaxCrossEntropy: return .labels
        case .bceWithLogits: return .binary
        case .mse, .huber: return .values
        }
    }

    /// Whether targets are integer class labels (`[B]`) rather than floats (`[B, out]`).
    public var usesLabels: Bool { targets == .labels }
}

/// The optimizer, with PyTorch semantics.
public enum Optimizer: Hashable, Sendable {
    /// `weight_decay` is added to the gradient; with momentum `v = momentum*v + g`.
    case sgd(lr: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0)
    /// Adam with bias correction; L2 weight decay added to the gradient.
    case adam(lr: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
              weightDecay: Double = 0)
    /// Adam with decoupled weight decay: `p -= lr*wd*p` before the step.
    case adamw(lr: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
               weightDecay: Double = 0.01)

    /// The type name in model files.
    public var typeName: String {
        switch self {
        case .sgd: return "sgd"
        case .adam: return "adam"
        case .adamw: return "adamw"
        }
    }

    /// The learning rate.
    public var learningRate: Double {
        switch self {
        case .sgd(let lr, _, _, _), .adam(let lr, _, _, _, _), .adamw(let lr, _, _, _, _): return lr
        }
    }

    /// The same optimizer with another learning rate.
    public func with(learningRate lr: Double) -> Optimizer {
        switch self {
        case .sgd(_, let m, let n, let wd): return .sgd(lr: lr, momentum: m, nesterov: n, weightDecay: wd)
        case .adam(_, let b1, let b2, let e, let wd): return .adam(lr: lr, beta1: b1, beta2: b2, eps: e, weightDecay: wd)
        case .adamw(_, let b1, let b2, let e, let wd): return .adamw(lr: lr, beta1: b1, beta2: b2, eps: e, weightDecay: wd)
        }
    }

    /// How many state values the optimizer keeps per parameter element
    /// (sgd with momentum: 1, adam/adamw: 2 (m, v), plain sgd: 0).
    public var stateSlotsPerParameter: Int {
        switch self {
        case .sgd(_, let m, _, _): return m != 0 ? 1 : 0
        case .adam, .adamw: return 2
        }
    }
}
