import Foundation

/// Gradient clipping by the global L2 norm, as `torch.nn.utils.clip_grad_norm_(params, max_norm)`
/// defines it (docs/CONVENTIONS.md, Gradient clipping): `total_norm` is the L2 norm of all
/// gradients together, `clip_coef = max_norm / (total_norm + 1e-6)`, and every gradient is
/// multiplied by `min(clip_coef, 1)`. Returns `total_norm` (before clipping).
/// - Precondition: `maxNorm > 0`.
@discardableResult
public func clipGradientNorm(_ gradients: inout [Double], maxNorm: Double) -> Double {
    precondition(maxNorm > 0, "maxNorm must be positive (got \(maxNorm))")
    let totalNorm = gradients.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let clampedCoefficient = min(maxNorm / (totalNorm + 1e-6), 1.0)
    for i in gradients.indices { gradients[i] *= clampedCoefficient }
    return totalNorm
}
