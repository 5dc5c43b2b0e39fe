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

extension Model {
    /// Every number of the model that becomes a C literal of type `scalar` (layernorm eps, leaky
    /// slope, huber delta, the optimizer's lr, betas, eps, momentum and weight decay) checked
    /// against that type: it must be finite, at most the type's largest value, and, unless it is
    /// 0, at least its smallest normal value (below it the constant rounds to 0 or to a
    /// subnormal, which changes the meaning of an eps or a learning rate); a beta must stay
    /// below 1 after rounding. Call it with the dtype code is generated for, after `analyze`.
    ///
    /// - Throws: `ModelSpecError` naming each field, the value and the dtype, e.g.
    ///   `layers[2] (layernorm): eps 1e-300 is 0 in float32; use at least 1.2e-38 or --dtype f64`.
    public func validate(for scalar: ScalarType, file: String? = nil) throws {
        let issues = issues(for: scalar)
        if !issues.isEmpty { throw ModelSpecError(file: file, issues: issues) }
    }

    /// The problems `validate(for:file:)` reports, or an empty list.
    public func issues(for scalar: ScalarType) -> [ModelIssue] {
        var issues: [ModelIssue] = []
        func check(_ place: String, _ field: String, _ v: Double) {
            let shown = JSONValue.format(v)
            if !v.isFinite || abs(v) > scalar.greatestFinite {
                let max = String(format: "%.2g", scalar.greatestFinite)
                issues.append(ModelIssue(place: place, message: "\(field) \(shown) is beyond the range of \(scalar.longName) "
                    + "(at most \(max) in magnitude)" + (scalar == .f32 ? "; use a smaller value or --dtype f64" : "")))
            } else if v != 0 && abs(v) < scalar.leastNormal {
                let min = String(format: "%.2g", scalar.leastNormal * 1.0000001)
                let becomes = scalar.rounded(v) == 0 ? "is 0" : "loses its precision"
                issues.append(ModelIssue(place: place, message: "\(field) \(shown) \(becomes) in \(scalar.longName); "
                    + "use 0 or at least \(min) in magnitude" + (scalar == .f32 ? " or --dtype f64" : "")))
            }
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
                case .layerNorm(let eps, _): check(place, "eps", eps)
                case .activation(.leakyReLU(let slope)): check(place, "negative_slope", slope)
                case .residual(let body): walk(body, prefix: path + ".")
                default: break
                }
            }
        }
        walk(layers, prefix: "")
        if case .huber(let delta) = loss { check("loss (huber)", "delta", delta) }
        let place = "optimizer (\(optimizer.typeName))"
        switch optimizer {
        case .sgd(let lr, let momentum, _, let wd):
            check(place, "lr", lr)
            check(place, "momentum", momentum)
            check(place, "weight_decay", wd)
        case .adam(let lr, let b1, let b2, let eps, let wd), .adamw(let lr, let b1, let b2, let eps, let wd):
            check(place, "lr", lr)
            beta(place, "beta1", b1)
            beta(place, "beta2", b2)
            check(place, "eps", eps)
            check(place, "weight_decay", wd)
        }
        return issues
    }
}
