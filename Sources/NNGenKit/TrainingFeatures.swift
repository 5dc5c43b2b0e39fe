import Foundation
import ModelSpec

/// The schedule, clipping and monitoring flags of `nngen train` as the user gave them (nil where
/// a flag was left out). The standalone `./train` resolves the same flags the same way
/// (`nn_resolve_features` in nn_runtime.c).
public struct TrainingFeatureFlags: Sendable, Equatable {
    /// `--schedule`.
    public var schedule: LearningRateSchedule.Kind?
    /// `--warmup` (epochs).
    public var warmup: Int?
    /// `--step-size` (epochs).
    public var stepSize: Int?
    /// `--gamma`.
    public var gamma: Double?
    /// `--lr-min`.
    public var lrMin: Double?
    /// `--clip-norm`.
    public var clipNorm: Double?
    /// `--save-best`.
    public var saveBest: URL?
    /// `--monitor`.
    public var monitor: MonitoredMetric?
    /// `--min-delta`.
    public var minDelta: Double?
    /// `--patience`.
    public var patience: Int?

    /// Flags, each nil unless given.
    public init(schedule: LearningRateSchedule.Kind? = nil, warmup: Int? = nil, stepSize: Int? = nil, gamma: Double? = nil,
                lrMin: Double? = nil, clipNorm: Double? = nil, saveBest: URL? = nil, monitor: MonitoredMetric? = nil,
                minDelta: Double? = nil, patience: Int? = nil) {
        self.schedule = schedule
        self.warmup = warmup
        self.stepSize = stepSize
        self.gamma = gamma
        self.lrMin = lrMin
        self.clipNorm = clipNorm
        self.saveBest = saveBest
        self.monitor = monitor
        self.minDelta = minDelta
        self.patience = patience
    }
}

extension TrainingOptions {
    /// These options with the schedule, clipping and monitor settings: each flag given, else the
    /// resumed checkpoint's value, else the default. A resumed run may change any of them; left
    /// out, it continues the checkpoint's schedule (its position is the checkpoint's step and
    /// epoch), clipping and patience.
    public func applying(_ f: TrainingFeatureFlags, resuming checkpoint: Checkpoint?) -> TrainingOptions {
        var o = self
        var s = checkpoint?.schedule ?? LearningRateSchedule()
        if let v = f.schedule { s.kind = v }
        if let v = f.warmup { s.warmupEpochs = v }
        if let v = f.stepSize { s.stepSize = v }
        if let v = f.gamma { s.gamma = v }
        if let v = f.lrMin { s.lrMin = v }
        o.schedule = s
        o.clipNorm = f.clipNorm ?? checkpoint?.clipNorm
        let ck = checkpoint?.monitor
        o.saveBest = f.saveBest
        o.monitor = f.monitor ?? ck?.metric ?? .valLoss
        o.minDelta = f.minDelta ?? ck?.minDelta ?? 0
        o.patience = f.patience ?? ck?.patience
        return o
    }

    /// Why the schedule, clipping and monitoring options cannot train `analysis`, in the words of
    /// the flags (`nngen train` reports it as a usage error); nil when they can. First each value
    /// on its own (`TrainingFeatureFlags.problem`), then the values together.
    public func featureProblem(_ analysis: ModelAnalysis) -> String? {
        let flags = TrainingFeatureFlags(warmup: schedule.warmupEpochs, stepSize: schedule.stepSize, gamma: schedule.gamma,
                                         lrMin: schedule.lrMin, clipNorm: clipNorm, minDelta: minDelta, patience: patience)
        if let p = flags.problem { return p }
        if let p = schedule.problem(epochs: epochs, learningRate: learningRate) { return p }
        if let c = clipNorm, let p = scalar.literalProblem(c, field: "--clip-norm") { return p }
        if monitors {
            let flag = saveBest != nil ? "--save-best" : "--patience"
            if validationSplit == 0 {
                return "\(flag) watches a validation metric, but --val-split is 0; hold out a validation part (--val-split 0.2)"
            }
            if monitor == .valAcc && analysis.model.loss.targets == .values {
                return "--monitor val_acc needs a classification loss; \(analysis.model.loss.typeName) is scored by val_loss "
                    + "(use --monitor val_loss)"
            }
        }
        return nil
    }
}

extension TrainingFeatureFlags {
    /// The first flag whose value is out of its range on its own, as a sentence naming the flag,
    /// the range and the value; nil when every given value is in range.
    public var problem: String? {
        if let v = warmup, v < 0 { return "--warmup must be 0 or more epochs (got \(v))" }
        if let v = stepSize, v < 1 { return "--step-size must be at least 1 epoch (got \(v))" }
        if let v = gamma, !(v.isFinite && v > 0 && v <= 1) { return "--gamma must be in (0, 1] (got \(formatNumber(v)))" }
        if let v = lrMin, !(v.isFinite && v >= 0) { return "--lr-min must be 0 or more (got \(formatNumber(v)))" }
        if let v = clipNorm, !(v.isFinite && v > 0) { return "--clip-norm must be a positive number (got \(formatNumber(v)))" }
        if let v = patience, v < 0 { return "--patience must be 0 or more epochs (got \(v))" }
        if let v = minDelta, !(v.isFinite && v >= 0) { return "--min-delta must be 0 or more (got \(formatNumber(v)))" }
        return nil
    }
}

extension Trainer {
    /// Throws `TrainingError.invalidOption` with `featureProblem`'s text.
    static func checkTrainingFeatures(_ analysis: ModelAnalysis, _ options: TrainingOptions) throws {
        if let p = options.featureProblem(analysis) { throw TrainingError.invalidOption(p) }
    }
}
