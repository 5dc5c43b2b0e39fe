import Foundation

extension ScalarType {
    /// The smallest positive normal value (`FLT_MIN`, `DBL_MIN`).
    public var leastNormal: Double { self == .f32 ? Double(Float.leastNormalMagnitude) : Double.leastNormalMagnitude }
    /// The largest finite value (`FLT_MAX`, `DBL_MAX`).
    public var greatestFinite: Double { self == .f32 ? Double(Float.greatestFiniteMagnitude) : Double.greatestFiniteMagnitude }
    /// `float32` or `float64`, for messages.
    public var longName: String { self == .f32 ? "float32" : "float64" }
    /// `x` rounded to this type (held in a Double).
    public func rounded(_ x: Double) -> Double { self == .f32 ? Double(Float(x)) : x }
}

extension ScalarType {
    /// Why `v`, the value of `field`, cannot be a constant of this type, or nil when it can:
    /// it must be finite and at most `greatestFinite` in magnitude, and 0 or at least
    /// `leastNormal` in magnitude (below it the constant is 0 or a subnormal: an eps, a learning
    /// rate or a slope would lose its meaning). E.g. `eps 1e-300 is 0 in float32; use at least
    /// 1.2e-38 in magnitude or --dtype f64` (`use 0 or at least` when `zeroAllowed`).
    public func literalProblem(_ v: Double, field: String, zeroAllowed: Bool = false) -> String? {
        let shown = JSONValue.format(v)
        let orF64 = self == .f32 ? " or --dtype f64" : ""
        if !v.isFinite || abs(v) > greatestFinite {
            return "\(field) \(shown) is beyond the range of \(longName) (at most "
                + String(format: "%.2g", greatestFinite) + " in magnitude); use a smaller value\(orF64)"
        }
        if v != 0 && abs(v) < leastNormal {
            let becomes = rounded(v) == 0 ? "is 0" : "loses its precision"
            return "\(field) \(shown) \(becomes) in \(longName); use " + (zeroAllowed ? "0 or " : "") + "at least "
                + String(format: "%.2g", leastNormal * 1.0000001) + " in magnitude\(orF64)"
        }
        return nil
    }
}

extension Model {
    /// Every number of the model that becomes a C literal of type `scalar` (layernorm eps, leaky
    /// slope, huber delta, the optimizer's lr, betas, eps, momentum and weight decay) checked
    /// against that type: it must be finite, at most the type's largest value, and, unless it is
    /// 0, at least its smallest normal value (below it the constant rounds to 0 or to a
    /// subnormal, which changes the meaning of an eps or a learning rate); a beta must stay
    /// below 1 after rounding. Call it with the dtype code is generated for, after `analyze`.
    ///
    /// - Throws: `ModelSpecError` naming each field, the value and the dtype, e.g.
    ///   `layers[2] (layernorm): eps 1e-300 is 0 in float32; use at least 1.2e-38 in magnitude or
    ///   --dtype f64`.
    public func validate(for scalar: ScalarType, file: String? = nil) throws {
        let issues = issues(for: scalar)
        if !issues.isEmpty { throw ModelSpecError(file: file, issues: issues) }
    }

    /// The problems `validate(for:file:)` reports, or an empty list.
    public func issues(for scalar: ScalarType) -> [ModelIssue] {
        var issues: [ModelIssue] = []
        func check(_ place: String, _ field: String, _ v: Double, zeroAllowed: Bool = true) {
            if let problem = scalar.literalProblem(v, field: field, zeroAllowed: zeroAllowed) { issues.append(ModelIssue(place: place, message: problem)) }
        }
        func beta(_ place: String, _ field: String, _ v: Double) {
            check(place, field, v)
            if v < 1 && scalar.rounded(v) >= 1 {
                issues.append(ModelIssue(place: place, message: "\(field) \(JSONValue.format(v)) is 1 in \(scalar.longName) "
                    + "(it must stay below 1); use a smaller value" + (scalar == .f32 ? " or --dtype f64" : "")))
            }
        }
        func walk(_ list: [Layer], prefix: String) {
            for (i, layer) in list.enumerated() {
                let path = "\(prefix)layers[\(i)]"
                let place = "\(path) (\(layer.typeName))"
                switch layer {
                case .layerNorm(let eps, _): check(place, "eps", eps, zeroAllowed: false)
                case .activation(.leakyReLU(let slope)): check(place, "negative_slope", slope)
                case .residual(let body): walk(body, prefix: path + ".")
                default: break
                }
            }
        }
        walk(layers, prefix: "")
        if case .huber(let delta) = loss { check("loss (huber)", "delta", delta, zeroAllowed: false) }
        let place = "optimizer (\(optimizer.typeName))"
        switch optimizer {
        case .sgd(let lr, let momentum, _, let wd):
            check(place, "lr", lr, zeroAllowed: false)
            check(place, "momentum", momentum)
            check(place, "weight_decay", wd)
        case .adam(let lr, let b1, let b2, let eps, let wd), .adamw(let lr, let b1, let b2, let eps, let wd):
            check(place, "lr", lr, zeroAllowed: false)
            beta(place, "beta1", b1)
            beta(place, "beta2", b2)
            check(place, "eps", eps)
            check(place, "weight_decay", wd)
        }
        return issues
    }
}
