import Foundation
import ModelSpec

// The losses of docs/CONVENTIONS.md, each a mean over the batch: a value function and a gradient
// function (dL/dz, z the model's output logits, [rows, outputs]).

/// mse: `L = (1/N) sum_i (z_i - y_i)^2` over all `N = rows * outputs` elements.
func mseLoss(_ z: [Double], _ y: [Double]) -> Double {
    var sum = 0.0
    for i in 0..<z.count {
        let d = z[i] - y[i]
        sum += d * d
    }
    return sum / Double(z.count)
}

/// `dL/dz_i = 2 (z_i - y_i) / N`.
func mseGradient(_ z: [Double], _ y: [Double]) -> [Double] {
    let n = Double(z.count)
    return (0..<z.count).map { 2 * (z[$0] - y[$0]) / n }
}

/// bce_with_logits: `L = (1/N) sum_i [max(z_i, 0) - z_i y_i + log1p(exp(-|z_i|))]`, which
/// equals `log(1 + exp(z)) - y z` without overflow for large `|z|`.
func bceWithLogitsLoss(_ z: [Double], _ y: [Double]) -> Double {
    var sum = 0.0
    for i in 0..<z.count {
        sum += max(z[i], 0) - z[i] * y[i] + log1p(exp(-abs(z[i])))
    }
    return sum / Double(z.count)
}

/// `dL/dz_i = (sigmoid(z_i) - y_i) / N`.
func bceWithLogitsGradient(_ z: [Double], _ y: [Double]) -> [Double] {
    let n = Double(z.count)
    return (0..<z.count).map { (logistic(z[$0]) - y[$0]) / n }
}

/// The maximum `m` of one row and `sum_k exp(z[row, k] - m)`.
private func shiftedExpSum(_ z: [Double], row: Int, classes: Int) -> (max: Double, sum: Double) {
    var m = -Double.infinity
    for k in 0..<classes { m = max(m, z[row * classes + k]) }
    var sum = 0.0
    for k in 0..<classes { sum += exp(z[row * classes + k] - m) }
    return (m, sum)
}

/// `log sum_k exp(z[row, k])` of one row, computed as `m + log sum exp(z - m)` with `m` the
/// row's maximum.
private func logSumExp(_ z: [Double], row: Int, classes: Int) -> Double {
    let (m, sum) = shiftedExpSum(z, row: row, classes: classes)
    return m + log(sum)
}

/// softmax_cross_entropy: `L = (1/B) sum_b [logsumexp(z[b, :]) - z[b, label_b]]`, that is the
/// mean of `-log softmax(z[b, :])[label_b]`.
func softmaxCrossEntropyLoss(_ z: [Double], labels: [Int], classes: Int) -> Double {
    var sum = 0.0
    for b in 0..<labels.count {
        sum += logSumExp(z, row: b, classes: classes) - z[b * classes + labels[b]]
    }
    return sum / Double(labels.count)
}

/// `dL/dz[b, k] = (softmax(z[b, :])[k] - [k == label_b]) / B`, with
/// `softmax(z)[k] = exp(z[k] - m) / sum_j exp(z[j] - m)`, `m` the row's maximum.
func softmaxCrossEntropyGradient(_ z: [Double], labels: [Int], classes: Int) -> [Double] {
    var dz = [Double](repeating: 0, count: z.count)
    let rows = Double(labels.count)
    for b in 0..<labels.count {
        let (m, sum) = shiftedExpSum(z, row: b, classes: classes)
        for k in 0..<classes {
            let p = exp(z[b * classes + k] - m) / sum
            dz[b * classes + k] = (p - (k == labels[b] ? 1 : 0)) / rows
        }
    }
    return dz
}

/// huber: `L = (1/N) sum_i h(z_i - y_i)`, `h(d) = 0.5 d^2` where `|d| < delta`, else
/// `delta (|d| - 0.5 delta)` (PyTorch's HuberLoss).
func huberLoss(_ z: [Double], _ y: [Double], delta: Double) -> Double {
    var sum = 0.0
    for i in 0..<z.count {
        let d = z[i] - y[i]
        sum += abs(d) < delta ? 0.5 * d * d : delta * (abs(d) - 0.5 * delta)
    }
    return sum / Double(z.count)
}

/// `dL/dz_i = d_i / N` where `|d_i| < delta`, else `delta sign(d_i) / N`.
func huberGradient(_ z: [Double], _ y: [Double], delta: Double) -> [Double] {
    let n = Double(z.count)
    return (0..<z.count).map { i in
        let d = z[i] - y[i]
        return (abs(d) < delta ? d : (d < 0 ? -delta : delta)) / n
    }
}

/// The mean loss of outputs `z` (`rows * classes` logits or values) against `targets`, in
/// double: the reference formula, which also scores validation (NNGenKit's `Evaluation`).
/// NaN when the targets are not of the loss's kind.
public func meanLoss(_ loss: Loss, outputs z: [Double], targets: Targets, outputsPerSample classes: Int) -> Double {
    lossValue(loss, z, targets, classes: classes)
}

/// The loss's value for checked targets.
func lossValue(_ loss: Loss, _ z: [Double], _ targets: Targets, classes: Int) -> Double {
    switch (loss, targets) {
    case (.mse, .values(let y)): return mseLoss(z, y)
    case (.bceWithLogits, .values(let y)): return bceWithLogitsLoss(z, y)
    case (.huber(let delta), .values(let y)): return huberLoss(z, y, delta: delta)
    case (.softmaxCrossEntropy, .labels(let labels)): return softmaxCrossEntropyLoss(z, labels: labels, classes: classes)
    default: return .nan  // unreachable: the interpreter checks the targets' kind first
    }
}

/// The loss's gradient with respect to the logits for checked targets.
func lossGradient(_ loss: Loss, _ z: [Double], _ targets: Targets, classes: Int) -> [Double] {
    switch (loss, targets) {
    case (.mse, .values(let y)): return mseGradient(z, y)
    case (.bceWithLogits, .values(let y)): return bceWithLogitsGradient(z, y)
    case (.huber(let delta), .values(let y)): return huberGradient(z, y, delta: delta)
    case (.softmaxCrossEntropy, .labels(let labels)):
        return softmaxCrossEntropyGradient(z, labels: labels, classes: classes)
    default: return [Double](repeating: .nan, count: z.count)  // unreachable, as above
    }
}
