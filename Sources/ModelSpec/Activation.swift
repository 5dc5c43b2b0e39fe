/// The elementwise activations, as in docs/CONVENTIONS.md: each is a layer type of its own in model
/// files (`Layer.activation`). Adding one means a case here (with its name), its value and
/// derivative in the reference interpreter (Reference's `Activation.value`/`derivative`), and its
/// C text in the code generator.
public enum Activation: Hashable, Sendable, CaseIterable {
    /// `max(x, 0)`.
    case relu
    /// `x` if `x > 0` else `negativeSlope * x`.
    case leakyReLU(negativeSlope: Double = 0.01)
    /// The logistic function `1 / (1 + exp(-x))`.
    case sigmoid
    case tanh
    /// Exact GELU: `0.5 x (1 + erf(x / sqrt 2))`.
    case gelu
    /// GELU with the tanh approximation.
    case geluTanh
    /// `y = x`.
    case identity
    /// `x * sigmoid(x)` (PyTorch's SiLU, also called swish).
    case silu

    /// Every activation, in the order of the model-file documentation (leaky ReLU with its
    /// default slope).
    public static let allCases: [Activation] = [.relu, .leakyReLU(), .sigmoid, .tanh, .gelu, .geluTanh, .identity, .silu]

    /// The layer type name in model files (`"relu"`, `"leaky_relu"`, ...).
    public var name: String {
        switch self {
        case .relu: return "relu"
        case .leakyReLU: return "leaky_relu"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        case .gelu: return "gelu"
        case .geluTanh: return "gelu_tanh"
        case .identity: return "identity"
        case .silu: return "silu"
        }
    }

    /// Every activation's model-file type name.
    public static let allTypeNames = allCases.map(\.name)

    /// The activation a model-file type name stands for (leaky ReLU with its default slope).
    public init?(typeName: String) {
        guard let a = Activation.allCases.first(where: { $0.name == typeName }) else { return nil }
        self = a
    }

    /// Whether the derivative can be computed from the activation's output alone, so the
    /// pre-activation need not be kept for backward.
    public var derivativeFromOutput: Bool {
        switch self {
        case .relu, .sigmoid, .tanh, .identity: return true
        case .leakyReLU(let s): return s > 0
        case .gelu, .geluTanh, .silu: return false
        }
    }
}
