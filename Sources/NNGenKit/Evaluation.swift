import DataIO
import Foundation
import JIT
import ModelSpec
import Reference

/// Loss and quality of model outputs against targets, computed in double as docs/TRAINING.md
/// defines the validation numbers.
public struct EvaluationMetrics: Sendable, Equatable {
    /// The number of samples.
    public var count: Int
    /// The loss: the mean over samples of `-log softmax(z)[label]` (softmax cross-entropy), the
    /// mean over all elements of `log(1 + exp(z)) - y z` (bce_with_logits), of `(z - y)^2` (mse)
    /// or of huber(z - y) (huber): the reference interpreter's formula (`meanLoss`).
    public var loss: Double
    /// Classification only: correct predictions (argmax, first maximum, equals the label; or
    /// `z > 0` equals `y >= 0.5` per element for bce_with_logits).
    public var correct: Int?
    /// Classification only: the number of predictions judged (samples, or elements for bce).
    public var judged: Int?
    /// Regression (mse, huber) only: the coefficient of determination `1 - SS_res / SS_tot` of each
    /// output (its own mean for `SS_tot`), averaged over outputs; nil when a target is constant.
    public var r2: Double?

    /// `correct / judged`, for classification.
    public var accuracy: Double? {
        guard let correct, let judged, judged > 0 else { return nil }
        return Double(correct) / Double(judged)
    }

    /// For mse models, the loss is the mean squared error.
    public var mse: Double { loss }

    public init(count: Int, loss: Double, correct: Int? = nil, judged: Int? = nil, r2: Double? = nil) {
        self.count = count
        self.loss = loss
        self.correct = correct
        self.judged = judged
        self.r2 = r2
    }
}

/// Computing the metrics from outputs.
public enum Evaluation {
    /// The metrics of `outputs` (`count * outputsPerSample` logits or values) against `targets`
    /// for `loss`. Sums run in sample order, then element order, in double.
    public static func metrics(outputs: [Double], outputsPerSample k: Int, targets: DatasetTargets,
                               loss: Loss) -> EvaluationMetrics {
        let n = k > 0 ? outputs.count / k : 0
        switch (loss.targets, targets) {
        case (.labels, .labels(let labels, _)):
            var correct = 0
            for i in 0..<n {
                let z = outputs[(i * k)..<((i + 1) * k)]
                var best = z.startIndex
                for j in z.indices where z[j] > z[best] { best = j }
                if best - z.startIndex == labels[i] { correct += 1 }
            }
            let mean = n > 0 ? meanLoss(loss, outputs: outputs, targets: .labels(Array(labels.prefix(n))), outputsPerSample: k) : .nan
            return EvaluationMetrics(count: n, loss: mean, correct: correct, judged: n)
        case (.binary, .values(let y, _)):
            var correct = 0
            for i in 0..<outputs.count where (outputs[i] > 0) == (y[i] >= 0.5) { correct += 1 }
            let m = outputs.count
            let mean = m > 0 ? meanLoss(loss, outputs: outputs, targets: .values(Array(y.prefix(m))), outputsPerSample: k) : .nan
            return EvaluationMetrics(count: n, loss: mean, correct: correct, judged: m)
        case (.values, .values(let y, _)):
            let m = outputs.count
            let mean = m > 0 ? meanLoss(loss, outputs: outputs, targets: .values(Array(y.prefix(m))), outputsPerSample: k) : .nan
            return EvaluationMetrics(count: n, loss: mean, r2: rSquared(outputs, y, k))
        default:
            return EvaluationMetrics(count: n, loss: .nan)
        }
    }

    /// `1 - SS_res / SS_tot` per output, averaged; nil if some output's targets are constant.
    static func rSquared(_ z: [Double], _ y: [Double], _ k: Int) -> Double? {
        let n = k > 0 ? y.count / k : 0
        guard n > 0 else { return nil }
        var total = 0.0
        for j in 0..<k {
            var mean = 0.0
            for i in 0..<n { mean += y[i * k + j] }
            mean /= Double(n)
            var res = 0.0, tot = 0.0
            for i in 0..<n {
                let d = z[i * k + j] - y[i * k + j], t = y[i * k + j] - mean
                res += d * d
                tot += t * t
            }
            guard tot > 0 else { return nil }
            total += 1 - res / tot
        }
        return total / Double(k)
    }

    /// The model outputs for `count` samples in `x`, computed by the compiled `NAME_predict` on
    /// consecutive chunks of at most `batch` rows.
    public static func predict(_ model: CompiledModel, x: [Double], count: Int) throws -> [Double] {
        try predict(batchesOn: { model }, x: x, count: count)
    }

    /// The same, asking `current` for the model before every chunk: a `TieredModel` moves from
    /// its tcc build to its cc build between two chunks (the same numbers either way).
    public static func predict(batchesOn current: () -> CompiledModel, x: [Double], count: Int) throws -> [Double] {
        let first = current()
        let f = first.analysis.model.input.shape.elementCount
        let batch = first.analysis.model.batch
        var out: [Double] = []
        out.reserveCapacity(count * first.analysis.outputCount)
        var start = 0
        while start < count {
            let rows = min(batch, count - start)
            out += try current().predict(Array(x[(start * f)..<((start + rows) * f)]), rows: rows)
            start += rows
        }
        return out
    }

    /// The metrics of the compiled model on a labelled data set.
    public static func evaluate(_ model: CompiledModel, on data: Dataset) throws -> EvaluationMetrics {
        let f = model.analysis.model.input.shape.elementCount
        let batch = model.analysis.model.batch
        var outputs: [Double] = []
        outputs.reserveCapacity(data.count * model.analysis.outputCount)
        var chunk = [Double](repeating: 0, count: batch * f)
        var start = 0
        while start < data.count {  // as predict(_:x:count:), gathering one chunk at a time
            let rows = min(batch, data.count - start)
            for r in 0..<rows { data.copyInput(start + r, into: &chunk, at: r * f) }
            outputs += try model.predict(rows == batch ? chunk : Array(chunk[..<(rows * f)]), rows: rows)
            start += rows
        }
        return metrics(outputs: outputs, outputsPerSample: model.analysis.outputCount, targets: data.targets,
                       loss: model.analysis.model.loss)
    }
}
