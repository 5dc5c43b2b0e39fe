import Foundation
import ModelSpec

// Elementwise activations (docs/CONVENTIONS.md): relu, leaky_relu, sigmoid, tanh, gelu (exact),
// gelu_tanh, identity, silu. Each has its value and its derivative, both functions of the input x;
// the backward pass is dx = dy * f'(x).

/// The reference math of each activation (ModelSpec's `Activation`).
extension Activation {
    /// `sqrt(2 / pi)`, the constant of the tanh approximation of GELU.
    static let geluTanhScale = (2 / Double.pi).squareRoot()
    /// The cubic coefficient of the tanh approximation of GELU.
    static let geluTanhCubic = 0.044715

    /// `f(x)`.
    func value(_ x: Double) -> Double {
        switch self {
        case .relu:
            return x > 0 ? x : 0
        case .leakyReLU(let slope):
            return x > 0 ? x : slope * x
        case .sigmoid:
            return logistic(x)
        case .tanh:
            return Foundation.tanh(x)
        case .gelu:
            return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
        case .geluTanh:
            let u = Self.geluTanhScale * (x + Self.geluTanhCubic * x * x * x)
            return 0.5 * x * (1 + Foundation.tanh(u))
        case .identity:
            return x
        case .silu:
            return x * logistic(x)
        }
    }

    /// `f'(x)`. At the kink of relu and leaky_relu (x = 0) this is the left slope
    /// (0 and `slope`), as PyTorch's backward gives.
    func derivative(_ x: Double) -> Double {
        switch self {
        case .relu:
            return x > 0 ? 1 : 0
        case .leakyReLU(let slope):
            return x > 0 ? 1 : slope
        case .sigmoid:
            let s = logistic(x)
            return s * (1 - s)
        case .tanh:
            let t = Foundation.tanh(x)
            return 1 - t * t
        case .gelu:
            // d/dx [x Phi(x)] = Phi(x) + x phi(x), phi the standard normal density.
            let cdf = 0.5 * (1 + erf(x / 2.0.squareRoot()))
            let pdf = exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
            return cdf + x * pdf
        case .geluTanh:
            // y = 0.5 x (1 + tanh u), u = k (x + a x^3):
            // y' = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k (1 + 3 a x^2).
            let u = Self.geluTanhScale * (x + Self.geluTanhCubic * x * x * x)
            let t = Foundation.tanh(u)
            let du = Self.geluTanhScale * (1 + 3 * Self.geluTanhCubic * x * x)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
        case .identity:
            return 1
        case .silu:
            // d/dx [x s(x)] = s + x s (1 - s).
            let s = logistic(x)
            return s * (1 + x * (1 - s))
        }
    }
}

/// The logistic function `1 / (1 + exp(-x))`, written so that neither branch overflows.
func logistic(_ x: Double) -> Double {
    if x >= 0 {
        return 1 / (1 + exp(-x))
    }
    let e = exp(x)
    return e / (1 + e)
}

/// `y[i] = f(x[i])`.
func activationForward(_ x: [Double], _ f: Activation) -> [Double] {
    x.map { f.value($0) }
}

/// `dx[i] = dy[i] * f'(x[i])`.
func activationBackward(_ x: [Double], _ dy: [Double], _ f: Activation) -> [Double] {
    var dx = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count { dx[i] = dy[i] * f.derivative(x[i]) }
    return dx
}
