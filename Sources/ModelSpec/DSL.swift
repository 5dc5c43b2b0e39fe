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
    /// Its `Trainable` settings by path relative to it: `""` for itself, `"layers[1]"` for the
    /// second layer of a residual body. Empty (everything trains) unless `.frozen()`,
    /// `.biasOnly()` or `.trainable(_:)` said otherwise.
    var trainableSettings: [String: Trainable] { get }
}

extension LayerConvertible {
    /// No settings: everything trains.
    public var trainableSettings: [String: Trainable] { [:] }

    /// The same layer (or residual block, for all it holds) with a training setting.
    public func trainable(_ setting: Trainable) -> TrainableLayer {
        var s = trainableSettings
        s[""] = setting
        return TrainableLayer(layer: layer, trainableSettings: s)
    }

    /// The layer frozen: no gradient, no update (`"trainable": false`).
    public func frozen() -> TrainableLayer { trainable(.frozen) }

    /// Only the layer's bias trains (`"trainable": "bias"`).
    public func biasOnly() -> TrainableLayer { trainable(.biasOnly) }
}

extension Layer: LayerConvertible {
    public var layer: Layer { self }
}

/// A layer with training settings (what `.frozen()` and `.biasOnly()` give).
public struct TrainableLayer: LayerConvertible {
    public var layer: Layer
    public var trainableSettings: [String: Trainable]
}

/// One layer written in a DSL block, with its training settings (see `LayerConvertible`).
public struct LayerEntry: Sendable {
    /// The layer.
    public var layer: Layer
    /// Settings by relative path (`""` for the layer itself).
    public var trainable: [String: Trainable]

    /// Settings keyed by full path, for the layer at `path`.
    func settings(at path: String) -> [String: Trainable] {
        Dictionary(uniqueKeysWithValues: trainable.map { ($0.key.isEmpty ? path : path + "." + $0.key, $0.value) })
    }
}

/// Collects the layers written in a DSL block.
@resultBuilder
public enum LayerBuilder {
    public static func buildExpression(_ l: some LayerConvertible) -> [LayerEntry] {
        [LayerEntry(layer: l.layer, trainable: l.trainableSettings)]
    }
    public static func buildExpression(_ l: [Layer]) -> [LayerEntry] { l.map { LayerEntry(layer: $0, trainable: [:]) } }
    public static func buildBlock(_ parts: [LayerEntry]...) -> [LayerEntry] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [LayerEntry]?) -> [LayerEntry] { part ?? [] }
    public static func buildEither(first: [LayerEntry]) -> [LayerEntry] { first }
    public static func buildEither(second: [LayerEntry]) -> [LayerEntry] { second }
    public static func buildArray(_ parts: [[LayerEntry]]) -> [LayerEntry] { parts.flatMap { $0 } }
}

/// The settings of a list of entries, keyed by path relative to the list (`layers[i]...`).
private func settings(of entries: [LayerEntry]) -> [String: Trainable] {
    var out: [String: Trainable] = [:]
    for (i, e) in entries.enumerated() { out.merge(e.settings(at: "layers[\(i)]")) { _, b in b } }
    return out
}

extension Model {
    /// A model whose layers are written in a `LayerBuilder` block.
    public init(_ name: String, input: InputShape, batch: Int, loss: Loss, optimizer: Optimizer = .adam(),
                standardize: Bool = false, @LayerBuilder layers: () -> [LayerEntry]) {
        let entries = layers()
        self.init(name: name, input: input, batch: batch, layers: entries.map(\.layer), loss: loss,
                  optimizer: optimizer, standardize: standardize, trainable: settings(of: entries))
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
    /// The settings of the layers of its body (`layers[1]` for the second).
    public var trainableSettings: [String: Trainable]
    public init(@LayerBuilder _ body: () -> [LayerEntry]) {
        let entries = body()
        layer = .residual(entries.map(\.layer))
        trainableSettings = settings(of: entries)
    }
}
