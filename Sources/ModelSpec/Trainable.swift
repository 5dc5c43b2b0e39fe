/// Which of a layer's parameters training updates (docs/CONVENTIONS.md "Trainable parameters").
///
/// In model files a layer or a residual block says `"trainable": true` (the default),
/// `false` (frozen), `"bias"` (only its bias: the TinyTL idea) or `"weight"` (only its
/// weight). A residual block's setting applies to every layer it holds; a layer inside it
/// may give its own, and the nearest setting wins.
public enum Trainable: Hashable, Sendable, CustomStringConvertible {
    /// Every parameter is trained.
    case all
    /// Nothing is trained: no gradient, no update, no optimizer state.
    case frozen
    /// Only biases are trained.
    case biasOnly
    /// Only weights are trained.
    case weightOnly

    /// The values a model file may give, as the error messages list them.
    public static let validValues = "true, false, \"bias\" or \"weight\""

    /// Whether a parameter of this role is trained.
    public func trains(_ role: ParameterRole) -> Bool {
        switch self {
        case .all: return true
        case .frozen: return false
        case .biasOnly: return role == .bias
        case .weightOnly: return role == .weight
        }
    }

    /// The model-file spelling: `true`, `false`, `"bias"`, `"weight"`.
    public var description: String {
        switch self {
        case .all: return "true"
        case .frozen: return "false"
        case .biasOnly: return "\"bias\""
        case .weightOnly: return "\"weight\""
        }
    }

    /// The setting that trains exactly the given roles.
    public init(weight: Bool, bias: Bool) {
        switch (weight, bias) {
        case (true, true): self = .all
        case (false, false): self = .frozen
        case (false, true): self = .biasOnly
        case (true, false): self = .weightOnly
        }
    }
}

extension Model {
    /// The setting that applies to the layer at `path` (`layers[2].layers[1]`): its own, else
    /// the nearest enclosing residual block's, else `.all`.
    public func trainability(ofLayerAt path: String) -> Trainable {
        var p = Substring(path)
        while true {
            if let t = trainable[String(p)] { return t }
            guard let dot = p.lastIndex(of: ".") else { return .all }
            p = p[..<dot]
        }
    }

    /// The same model with per-run overrides over parameter names (`nngen train --freeze`,
    /// `--train-only`): parameters matching a `freeze` pattern are frozen; when `trainOnly`
    /// patterns are given, every parameter matching none of them is frozen too. A pattern is a
    /// parameter name where `*` stands for any run of characters (`layers.0.*`, `*.bias`).
    /// The result states the setting of every layer that has parameters.
    ///
    /// - Throws: `ModelSpecError` (place `--freeze` or `--train-only`) when a pattern matches
    ///   no parameter, listing the parameter names; or the model's own errors.
    public func overridingTrainable(freeze: [String], trainOnly: [String]) throws -> Model {
        let analysis = try analyze()
        let names = analysis.parameters.map(\.name)
        for (flag, patterns) in [("--freeze", freeze), ("--train-only", trainOnly)] {
            for pattern in patterns where !names.contains(where: { Trainable.matches($0, pattern: pattern) }) {
                throw ModelSpecError(place: flag, "\"\(Messages.shown(pattern))\" matches no parameter; the parameters are: "
                                     + names.joined(separator: ", "))
            }
        }
        var trains: [String: Bool] = [:]
        for p in analysis.parameters {
            var t = p.trainable
            if !trainOnly.isEmpty && !trainOnly.contains(where: { Trainable.matches(p.name, pattern: $0) }) { t = false }
            if freeze.contains(where: { Trainable.matches(p.name, pattern: $0) }) { t = false }
            trains[p.name] = t
        }
        var out = self
        out.trainable = [:]
        for l in analysis.layers where !l.parameters.isEmpty {
            let w = l.parameters.first { $0.role == .weight }.map { trains[$0.name] ?? true } ?? false
            let b = l.parameters.first { $0.role == .bias }.map { trains[$0.name] ?? true } ?? false
            let hasW = l.parameters.contains { $0.role == .weight }, hasB = l.parameters.contains { $0.role == .bias }
            let setting = Trainable(weight: hasW ? w : b, bias: hasB ? b : w)
            if setting != .all { out.trainable[l.path] = setting }
        }
        _ = try out.analyze()
        return out
    }
}

extension Trainable {
    /// Whether `name` matches `pattern`, where `*` matches any run of characters (also none).
    public static func matches(_ name: String, pattern: String) -> Bool {
        let n = Array(name.utf8), p = Array(pattern.utf8)
        var (i, j) = (0, 0)
        var star = -1, mark = 0
        while i < n.count {
            if j < p.count && p[j] != UInt8(ascii: "*") && p[j] == n[i] { i += 1; j += 1 }
            else if j < p.count && p[j] == UInt8(ascii: "*") { star = j; mark = i; j += 1 }
            else if star >= 0 { j = star + 1; mark += 1; i = mark }
            else { return false }
        }
        while j < p.count && p[j] == UInt8(ascii: "*") { j += 1 }
        return j == p.count
    }
}
