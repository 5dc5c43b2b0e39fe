// The `nngen train` features beyond epochs, learning rate and --save, as Swift values for
// `ModelTrainer.fit`. They turn into NNGenKit's `TrainingFeatureFlags` and go through the
// command's own resolution and checks (`TrainingOptions.applying`, `featureProblem`).

import Foundation

/// What `nngen train` offers beyond `--epochs`, `--lr` and `--save`, for `ModelTrainer.fit`:
/// a learning-rate schedule (`--schedule`, `--warmup`, `--step-size`, `--gamma`, `--lr-min`),
/// gradient clipping (`--clip-norm`), the best checkpoint and early stopping (`--save-best`,
/// `--monitor`, `--min-delta`, `--patience`), and the metrics log and plot (`--log`, `--plot`).
///
/// Every value left nil is the command's default, or, on a `fit` that continues an earlier one
/// (or a trainer made from a checkpoint), what that run used, as `nngen train --resume` does.
/// Values out of range throw `TrainingError.invalidOption` with the command's message, which names
/// the flag (`--clip-norm must be a positive number (got -1)`).
public struct FitOptions: Sendable, Equatable {
    /// The learning-rate schedule (`LearningRateSchedule.cosine(warmup:lrMin:)`, `.step(...)`,
    /// `.onecycle`, `.constant(warmup:)`); nil: constant, or the schedule of the run continued.
    public var schedule: LearningRateSchedule?
    /// Clip the gradients to this global L2 norm before every update (`--clip-norm`).
    public var clipNorm: Double?
    /// Write the checkpoint of the best epoch (by `monitor`) to this path (`--save-best`).
    public var saveBest: String?
    /// The metric `saveBest` and `patience` watch (`--monitor`; default `.valLoss`).
    public var monitor: MonitoredMetric?
    /// The improvement an epoch must exceed to count as better (`--min-delta`; default 0).
    public var minDelta: Double?
    /// Stop after this many epochs without improvement (`--patience`).
    public var patience: Int?
    /// Rewrite this metrics log (.csv or .jsonl) after every epoch of the call (`--log`).
    public var log: String?
    /// Redraw this SVG of the loss curves after every epoch of the call (`--plot`).
    public var plot: String?

    /// Options, each nil (the default) unless given.
    public init(schedule: LearningRateSchedule? = nil, clipNorm: Double? = nil, saveBest: String? = nil,
                monitor: MonitoredMetric? = nil, minDelta: Double? = nil, patience: Int? = nil,
                log: String? = nil, plot: String? = nil) {
        self.schedule = schedule
        self.clipNorm = clipNorm
        self.saveBest = saveBest
        self.monitor = monitor
        self.minDelta = minDelta
        self.patience = patience
        self.log = log
        self.plot = plot
    }

    /// The same settings as the command's flags: a schedule sets every schedule flag.
    var flags: TrainingFeatureFlags {
        TrainingFeatureFlags(schedule: schedule?.kind, warmup: schedule?.warmupEpochs, stepSize: schedule?.stepSize,
                             gamma: schedule?.gamma, lrMin: schedule?.lrMin, clipNorm: clipNorm,
                             saveBest: saveBest.map { URL(fileURLWithPath: $0) }, monitor: monitor, minDelta: minDelta,
                             patience: patience)
    }
}

extension LearningRateSchedule {
    /// The constant learning rate after `warmup` epochs of linear warm-up
    /// (`--schedule constant --warmup W`).
    public static func constant(warmup: Int = 0) -> LearningRateSchedule {
        LearningRateSchedule(kind: .constant, warmupEpochs: warmup)
    }

    /// Cosine annealing from the learning rate down to `lrMin` over the epochs after `warmup`
    /// (`--schedule cosine --warmup W --lr-min X`).
    public static func cosine(warmup: Int = 0, lrMin: Double = 0) -> LearningRateSchedule {
        LearningRateSchedule(kind: .cosine, warmupEpochs: warmup, lrMin: lrMin)
    }

    /// The learning rate times `gamma` every `size` epochs after `warmup`
    /// (`--schedule step --step-size N --gamma G --warmup W`).
    public static func step(size: Int = defaultStepSize, gamma: Double = defaultGamma,
                            warmup: Int = 0) -> LearningRateSchedule {
        LearningRateSchedule(kind: .step, warmupEpochs: warmup, stepSize: size, gamma: gamma)
    }

    /// PyTorch's OneCycleLR with its defaults, over every step of the run (`--schedule onecycle`).
    public static var onecycle: LearningRateSchedule { LearningRateSchedule(kind: .onecycle) }
}
