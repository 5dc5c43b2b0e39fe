import ModelSpec

/// Identifies a tensor in a `Graph`.
public struct TensorID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: Int
    public init(_ raw: Int) { self.raw = raw }
    public static func < (a: TensorID, b: TensorID) -> Bool { a.raw < b.raw }
    public var description: String { "%\(raw)" }
}

/// Where a tensor lives and what it means.
public enum TensorRole: Hashable, Sendable {
    /// The batch of inputs (caller's buffer).
    case input
    /// The batch of targets (caller's buffer): labels or values.
    case target
    /// A parameter: a slice of the flat parameter array.
    case parameter(ParameterInfo)
    /// The gradient of a parameter: the same slice of the flat gradient array.
    case parameterGradient(ParameterInfo)
    /// The gradient of the input (caller's buffer, optional).
    case inputGradient
    /// The loss, one scalar.
    case loss
    /// Anything else: activations, saved statistics, gradients of activations (the arena).
    case temporary
}

/// One tensor: a name for dumps and comments, a static shape including the batch, a role.
public struct TensorInfo: Hashable, Sendable {
    public var id: TensorID
    public var name: String
    public var shape: [Int]
    public var role: TensorRole
    /// Elements.
    public var count: Int { shape.reduce(1, *) }
}

/// Conv1d attributes with resolved padding and lengths.
public struct Conv1DAttributes: Hashable, Sendable {
    public var kernel: Int
    public var stride: Int
    public var dilation: Int
    public var padLeft: Int
    public var inLength: Int
    public var outLength: Int
    public var inChannels: Int
    public var outChannels: Int
}

/// Elementwise work folded into a kernel after its main computation, applied in order to
/// each output element `v` at flat index `i`.
public enum Epilogue: Hashable, Sendable {
    /// `v += bias[i % N]`.
    case bias(TensorID)
    /// Store `v` into this tensor (kept for backward), then continue.
    case store(TensorID)
    /// `v = f(v)`.
    case activation(Activation)
    /// `v += t[i]` (a residual add, or a gradient meeting at a fork).
    case add(TensorID)
    /// `v *= f'(...)` read from `source` (the activation's output if `fromOutput`, else its input).
    case activationDerivative(Activation, source: TensorID, fromOutput: Bool)
}

/// What a node computes. Forward primitives come from `lower`, backward primitives from
/// `differentiate`, fused kinds from `fuse`.
public enum NodeKind: Hashable, Sendable {
    // Forward primitives.
    /// `y[M,N] = x[M,K] w[N,K]^T` (a dense layer's product).
    case matmul
    /// `y = x + b` broadcast over the last axis.
    case biasAdd
    case activation(Activation)
    /// `y[B,Lo,O] = sum_c sum_j w[O,c,j] x[B, t*s + j*d - pad, c]`.
    case conv1d(Conv1DAttributes)
    /// `xhat = (x - mean) * rstd` over the last axis; outputs xhat, mean, rstd.
    case layerNormalize(eps: Double)
    /// `y = xhat * w + b` over the last axis.
    case scaleShift
    case maxPool1d(kernel: Int, stride: Int)
    case avgPool1d(kernel: Int, stride: Int)
    case globalAvgPool1d
    /// Same data, another shape (flatten): no code, the output aliases the input.
    case reshape
    /// `y = a + b`.
    case add
    /// Row-wise softmax.
    case softmax
    /// Mean over rows of `-log p[label]`.
    case crossEntropy
    case mse
    case bceWithLogits
    /// Mean over elements of huber(pred - target) with threshold `delta`.
    case huber(delta: Double)
    /// One optimizer update of one parameter (inputs: parameter, gradient).
    case optimizerUpdate(Optimizer)

    // Backward primitives.
    /// `dx[M,K] = dy[M,N] w[N,K]`.
    case matmulGradInput
    /// `dw[N,K] = dy[M,N]^T x[M,K]`.
    case matmulGradWeight
    /// `db[N] = sum over rows of dy`.
    case biasGrad
    /// `dx = dy * f'(...)`; inputs: source (x or y), dy.
    case activationGrad(Activation, fromOutput: Bool)
    case conv1dGradInput(Conv1DAttributes)
    case conv1dGradWeight(Conv1DAttributes)
    /// inputs dxhat, xhat, rstd -> dx.
    case layerNormalizeGrad
    /// inputs dy, xhat, w -> dxhat, dw, db.
    case scaleShiftGrad
    /// inputs dy, x -> dx (to the first maximal position).
    case maxPool1dGrad(kernel: Int, stride: Int)
    case avgPool1dGrad(kernel: Int, stride: Int)
    case globalAvgPool1dGrad
    /// inputs p, dp -> dz.
    case softmaxGrad
    /// inputs p, labels -> dp (d loss / d p).
    case crossEntropyGrad
    /// inputs yhat, y -> dyhat.
    case mseGrad
    /// inputs z, y -> dz.
    case bceWithLogitsGrad
    /// inputs yhat, y -> dyhat.
    case huberGrad(delta: Double)

    // Fused kinds.
    /// inputs logits, labels -> loss, dlogits: softmax, cross-entropy and their gradients in one pass.
    case softmaxCrossEntropy
    /// inputs x, (w, b) -> y, mean, rstd: normalise and scale in one pass.
    case layerNorm(eps: Double, affine: Bool)
    /// inputs dy, x, mean, rstd, (w) -> dx, (dw, db): the whole layernorm backward in one kernel.
    case layerNormGrad(affine: Bool)
    /// inputs: every parameter then every gradient -> updated in one loop over the flat arrays.
    case optimizerStep(Optimizer, parameterCount: Int)

    /// A short name for dumps and kernel names.
    public var name: String {
        switch self {
        case .matmul: return "matmul"
        case .biasAdd: return "bias_add"
        case .activation(let a): return a.name
        case .conv1d: return "conv1d"
        case .layerNormalize: return "layernorm_normalize"
        case .scaleShift: return "scale_shift"
        case .maxPool1d: return "maxpool1d"
        case .avgPool1d: return "avgpool1d"
        case .globalAvgPool1d: return "global_avg_pool1d"
        case .reshape: return "reshape"
        case .add: return "add"
        case .softmax: return "softmax"
        case .crossEntropy: return "cross_entropy"
        case .mse: return "mse"
        case .bceWithLogits: return "bce_with_logits"
        case .huber: return "huber"
        case .optimizerUpdate(let o): return "\(o.typeName)_update"
        case .matmulGradInput: return "matmul_grad_input"
        case .matmulGradWeight: return "matmul_grad_weight"
        case .biasGrad: return "bias_grad"
        case .activationGrad(let a, _): return "\(a.name)_grad"
        case .conv1dGradInput: return "conv1d_grad_input"
        case .conv1dGradWeight: return "conv1d_grad_weight"
        case .layerNormalizeGrad: return "layernorm_normalize_grad"
        case .scaleShiftGrad: return "scale_shift_grad"
        case .maxPool1dGrad: return "maxpool1d_grad"
        case .avgPool1dGrad: return "avgpool1d_grad"
        case .globalAvgPool1dGrad: return "global_avg_pool1d_grad"
        case .softmaxGrad: return "softmax_grad"
        case .crossEntropyGrad: return "cross_entropy_grad"
        case .mseGrad: return "mse_grad"
        case .bceWithLogitsGrad: return "bce_with_logits_grad"
        case .huberGrad: return "huber_grad"
        case .softmaxCrossEntropy: return "softmax_cross_entropy"
        case .layerNorm: return "layernorm"
        case .layerNormGrad: return "layernorm_grad"
        case .optimizerStep(let o, _): return "\(o.typeName)_step"
        }
    }

    /// Whether elementwise work can be folded into this kernel's output loop.
    public var acceptsEpilogue: Bool {
        switch self {
        case .matmul, .conv1d, .matmulGradInput, .conv1dGradInput, .layerNorm, .layerNormGrad,
             .layerNormalizeGrad, .scaleShift:
            return true
        default:
            return false
        }
    }
}

/// When a node runs.
public enum Phase: String, Hashable, Sendable {
    case forward, backward, update
}

/// One operation of the graph.
public struct Node: Hashable, Sendable {
    public var kind: NodeKind
    public var inputs: [TensorID]
    public var outputs: [TensorID]
    /// Elementwise work applied to `outputs[0]` after the main computation.
    public var epilogue: [Epilogue] = []
    /// The layer this node came from, e.g. `layers[2].layers[1]`, and its type.
    public var layerPath: String
    public var layerType: String
    public var phase: Phase
    /// The names of the fusion rules that produced this node (empty if none).
    public var fusedBy: [String] = []
    /// True when the node only serves the input gradient (run only when it is asked for).
    public var inputGradientOnly = false
    /// True when `outputs[0]` serves only the input gradient while the node's other outputs do
    /// not: the kernel computes it only when it is given a buffer for it (not NULL).
    public var optionalFirstOutput = false

    /// Every tensor the node reads, epilogue included.
    public var reads: [TensorID] {
        var r = inputs
        for e in epilogue {
            switch e {
            case .bias(let t), .add(let t): r.append(t)
            case .activationDerivative(_, let s, _): r.append(s)
            case .store, .activation: break
            }
        }
        return r
    }

    /// Every tensor the node writes, epilogue stores included.
    public var writes: [TensorID] {
        var w = outputs
        for e in epilogue { if case .store(let t) = e { w.append(t) } }
        return w
    }
}

/// A training computation: tensors with static shapes and nodes in execution order.
public struct Graph: Sendable {
    /// The model analysis the graph came from.
    public var analysis: ModelAnalysis
    public var tensors: [TensorInfo] = []
    public var nodes: [Node] = []
    /// The input batch, the targets, the model output (logits) and the loss.
    public var input = TensorID(0), target = TensorID(0), output = TensorID(0), loss = TensorID(0)
    /// The gradient of the input, when one was asked for.
    public var inputGradient: TensorID?
    /// Gradient tensor of each parameter, by parameter name.
    public var parameterGradients: [String: TensorID] = [:]
    /// Parameter tensor of each parameter, by parameter name.
    public var parameterTensors: [String: TensorID] = [:]

    public init(analysis: ModelAnalysis) { self.analysis = analysis }

    /// Adds a tensor and returns its id.
    public mutating func addTensor(_ name: String, _ shape: [Int], _ role: TensorRole = .temporary) -> TensorID {
        let id = TensorID(tensors.count)
        tensors.append(TensorInfo(id: id, name: name, shape: shape, role: role))
        return id
    }

    public subscript(_ id: TensorID) -> TensorInfo { tensors[id.raw] }

    /// The nodes reading a tensor.
    public func consumers(of t: TensorID) -> [Int] {
        nodes.indices.filter { nodes[$0].reads.contains(t) }
    }

    /// The node writing a tensor.
    public func producer(of t: TensorID) -> Int? {
        nodes.indices.first { nodes[$0].writes.contains(t) }
    }
}
