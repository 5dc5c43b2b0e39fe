import Foundation
import ModelSpec

/// The validation metric that `--save-best` and `--patience` watch.
public enum MonitoredMetric: String, Sendable, CaseIterable {
    /// The validation loss; lower is better.
    case valLoss = "val_loss"
    /// The validation accuracy (classification only), as a fraction; higher is better.
    case valAcc = "val_acc"

    /// The metric's value in `m`, or nil when the model does not score it.
    public func value(_ m: EvaluationMetrics) -> Double? {
        self == .valLoss ? m.loss : m.accuracy
    }

    /// `value` as the epoch line prints it: `0.123456` or `96.67%`.
    public func text(_ v: Double) -> String {
        self == .valLoss ? String(format: "%.6f", v) : String(format: "%.2f%%", v * 100)
    }
}

/// The best epoch so far and the epochs since (docs/TRAINING.md, "Best checkpoint and early
/// stopping"), as Keras's EarlyStopping counts them: an epoch improves when its metric beats the
/// best by more than `minDelta` (below `best - minDelta` for the loss, above `best + minDelta` for
/// the accuracy); the first monitored epoch always does. Saved in checkpoints, so that a resumed run
/// goes on counting.
public struct MonitorState: Sendable, Equatable {
    /// The metric watched.
    public var metric: MonitoredMetric
    /// The improvement an epoch must exceed.
    public var minDelta: Double
    /// Stop after this many epochs without improvement (nil: never stop early).
    public var patience: Int?
    /// The best value so far and its epoch (nil before the first monitored epoch).
    public var best: (value: Double, epoch: Int)?
    /// Epochs since the best one.
    public var badEpochs: Int

    /// A fresh monitor.
    public init(metric: MonitoredMetric, minDelta: Double = 0, patience: Int? = nil, best: (value: Double, epoch: Int)? = nil,
                badEpochs: Int = 0) {
        self.metric = metric
        self.minDelta = minDelta
        self.patience = patience
        self.best = best
        self.badEpochs = badEpochs
    }

    /// Records epoch `epoch`'s metric `value`; returns whether it is the new best.
    @discardableResult
    public mutating func observe(_ value: Double, epoch: Int) -> Bool {
        let improved: Bool
        if let b = best {
            improved = metric == .valLoss ? value < b.value - minDelta : value > b.value + minDelta
        } else {
            improved = true
        }
        if improved {
            best = (value, epoch)
            badEpochs = 0
        } else {
            badEpochs += 1
        }
        return improved
    }

    /// Whether patience has run out.
    public var exhausted: Bool { patience.map { badEpochs >= $0 } ?? false }

    /// Why training stopped early, as both trainers print it.
    public var stopReason: String {
        var s = "\(metric.rawValue) has not improved by more than \(formatNumber(minDelta)) for \(badEpochs) epoch"
            + (badEpochs == 1 ? "" : "s") + " (--patience \(patience ?? 0))"
        if let b = best { s += "; best \(metric.text(b.value)) at epoch \(b.epoch)" }
        return s
    }

    /// Equal settings, best (value and epoch) and count.
    public static func == (a: MonitorState, b: MonitorState) -> Bool {
        a.metric == b.metric && a.minDelta == b.minDelta && a.patience == b.patience && a.badEpochs == b.badEpochs
            && a.best?.value == b.best?.value && a.best?.epoch == b.best?.epoch
    }
}
