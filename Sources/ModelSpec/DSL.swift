// A result-builder DSL that reads like the network:
//
//     let model = Model("digits", input: .features(64), batch: 32,
//                       loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.05)) {
//         Dense(128); ReLU()
//         Residual { LayerNorm(); Dense(128); GELU() }
//         Dense(10)
//     }

/// Anything that stands for one layer in the DSL.
public protocol LayerConvertible {
    /// The layer it stands for.
    var layer: Layer { get }
}

extension Layer: LayerConvertible {
    public var layer: Layer { self }
}

/// Collects the layers written in a DSL block.
@resultBuilder
public enum LayerBuilder {
    public static func buildExpression(_ l: some LayerConvertible) -> [Layer] { [l.layer] }
    public static func buildExpression(_ l: [Layer]) -> [Layer] { l }
    public static func buildBlock(_ parts: [Layer]...) -> [Layer] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [Layer]?) -> [Layer] { part ?? [] }
    public static func buildEither(first: [Layer]) -> [Layer] { first }
    public static func buildEither(second: [Layer]) -> [Layer] { second }
    public static func buildArray(_ parts: [[Layer]]) -> [Layer] { parts.flatMap { $0 } }
}

extension Model {
    /// A model whose layers are written in a `LayerBuilder` block.
    public init(_ name: String, input: InputShape, batch: Int, loss: Loss, optimizer: Optimizer = .adam(),
                standardize: Bool = false, @LayerBuilder layers: () -> [Layer]) {
        self.init(name: name, input: input, batch: batch, layers: layers(), loss: loss,
                  optimizer: optimizer, standardize: standardize)
    }
}

/// `y = x W^T + b` with `units` outputs.
public struct Dense: LayerConvertible {
    public var layer: Layer
    public init(_ units: Int, bias: Bool = true) { layer = .dense(units: units, bias: bias) }
}

/// 1-D cross-correlation over positions.
public struct Conv1D: LayerConvertible {
    public var layer: Layer
    public init(_ filters: Int, kernel: Int, stride: Int = 1, padding: Padding = .explicit(0),
                dilation: Int = 1, bias: Bool = true) {
        layer = .conv1d(filters: filters, kernel: kernel, stride: stride, padding: padding,
                        dilation: dilation, bias: bias)
    }
}

/// Layer normalisation over the last axis.
public struct LayerNorm: LayerConvertible {
    public var layer: Layer
    public init(eps: Double = 1e-5, affine: Bool = true) { layer = .layerNorm(eps: eps, affine: affine) }
}

/// `max(x, 0)`.
public struct ReLU: LayerConvertible {
    public var layer: Layer { .activation(.relu) }
    public init() {}
}

/// `x` if `x > 0` else `negativeSlope * x`.
public struct LeakyReLU: LayerConvertible {
    public var layer: Layer
    public init(negativeSlope: Double = 0.01) { layer = .activation(.leakyReLU(negativeSlope: negativeSlope)) }
}

/// The logistic function.
public struct Sigmoid: LayerConvertible {
    public var layer: Layer { .activation(.sigmoid) }
    public init() {}
}

/// The hyperbolic tangent.
public struct Tanh: LayerConvertible {
    public var layer: Layer { .activation(.tanh) }
    public init() {}
}

/// Exact GELU.
public struct GELU: LayerConvertible {
    public var layer: Layer { .activation(.gelu) }
    public init() {}
}

/// GELU with the tanh approximation.
public struct GELUTanh: LayerConvertible {
    public var layer: Layer { .activation(.geluTanh) }
    public init() {}
}

/// SiLU: `x * sigmoid(x)`.
public struct SiLU: LayerConvertible {
    public var layer: Layer { .activation(.silu) }
    public init() {}
}

/// `y = x`.
public struct Identity: LayerConvertible {
    public var layer: Layer { .activation(.identity) }
    public init() {}
}

/// Max over windows of positions (stride defaults to the kernel).
public struct MaxPool1D: LayerConvertible {
    public var layer: Layer
    public init(_ kernel: Int, stride: Int? = nil) { layer = .maxPool1d(kernel: kernel, stride: stride ?? kernel) }
}

/// Mean over windows of positions (stride defaults to the kernel).
public struct AvgPool1D: LayerConvertible {
    public var layer: Layer
    public init(_ kernel: Int, stride: Int? = nil) { layer = .avgPool1d(kernel: kernel, stride: stride ?? kernel) }
}

/// `[L, C] -> [C]`, the mean over positions.
public struct GlobalAvgPool1D: LayerConvertible {
    public var layer: Layer { .globalAvgPool1d }
    public init() {}
}

/// `[L, C] -> [L*C]`.
public struct Flatten: LayerConvertible {
    public var layer: Layer { .flatten }
    public init() {}
}

/// `y = x + f(x)`, with `f` the layers of the block.
public struct Residual: LayerConvertible {
    public var layer: Layer
    public init(@LayerBuilder _ body: () -> [Layer]) { layer = .residual(body()) }
}
