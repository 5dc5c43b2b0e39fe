import Foundation

/// The learning rate of every step (docs/TRAINING.md, "Learning-rate schedules"): a linear
/// warm-up over the first `warmupEpochs` epochs, counted in steps, then `kind` over the remaining
/// epochs. The standalone runtime computes the same numbers in `nn_rt_schedule.c`, operation for
/// operation, so that both trainers pass the same learning rate to every step.
///
/// - constant: `lr`.
/// - step (PyTorch's StepLR, stepped once per epoch): `lr * gamma^floor(k / step_size)` with `k`
///   the 0-based epoch after the warm-up.
/// - cosine (CosineAnnealingLR's closed form, once per epoch, T_max = the epochs after the
///   warm-up): `lr_min + (lr - lr_min) * (1 + cos(pi * k / T_max)) / 2`.
/// - onecycle (OneCycleLR with its defaults, stepped once per step over every step of the run:
///   pct_start 0.3, cosine annealing, div_factor 25, final_div_factor 1e4, two phases): from
///   `lr / 25` up to `lr` at step `0.3 * total - 1`, then down to `lr / 25 / 1e4` at the last
///   step. It has its own warm-up, so `warmupEpochs` must be 0.
/// - warm-up (LinearLR with start_factor 1/W over W = warmup epochs * steps per epoch steps):
///   step t (0-based, counted over the run) takes `lr * (t + 1) / W` while t < W.
public struct LearningRateSchedule: Sendable, Equatable {
    /// The schedules `--schedule` may name.
    public enum Kind: String, Sendable, CaseIterable {
        case constant, step, cosine, onecycle
    }

    /// The schedule after the warm-up.
    public var kind: Kind
    /// Epochs of linear warm-up (counted in steps), 0 for none.
    public var warmupEpochs: Int
    /// step: epochs between two decays (StepLR's step_size).
    public var stepSize: Int
    /// step: the decay factor (StepLR's gamma).
    public var gamma: Double
    /// cosine: the floor (CosineAnnealingLR's eta_min).
    public var lrMin: Double

    /// The defaults of the flags: step size 10, gamma 0.1, floor 0.
    public static let defaultStepSize = 10
    /// StepLR's usual gamma.
    public static let defaultGamma = 0.1

    /// A schedule; the defaults give the constant learning rate.
    public init(kind: Kind = .constant, warmupEpochs: Int = 0, stepSize: Int = LearningRateSchedule.defaultStepSize,
                gamma: Double = LearningRateSchedule.defaultGamma, lrMin: Double = 0) {
        self.kind = kind
        self.warmupEpochs = warmupEpochs
        self.stepSize = stepSize
        self.gamma = gamma
        self.lrMin = lrMin
    }

    /// Whether the learning rate changes during a run (then the epoch lines show it).
    public var varies: Bool { kind != .constant || warmupEpochs > 0 }

    /// Why these settings cannot be used together for a run of `epochs` epochs at base rate `lr`,
    /// in the words of the flags; nil when they can. (Each value's own range is
    /// `TrainingFeatureFlags.problem`.)
    public func problem(epochs: Int, learningRate lr: Double) -> String? {
        if warmupEpochs > 0 && warmupEpochs >= epochs {
            return "--warmup \(warmupEpochs) must be fewer epochs than the run's \(epochs) (--epochs), so that the schedule has epochs left"
        }
        if kind == .onecycle && warmupEpochs > 0 {
            return "--warmup cannot be combined with --schedule onecycle, which warms up by itself (its first 30% of the steps)"
        }
        if lrMin > lr { return "--lr-min \(formatNumber(lrMin)) must not exceed the learning rate \(formatNumber(lr))" }
        return nil
    }

    /// The learning rate of step `step` (0-based) of epoch `epoch` (1-based) in a run of `epochs`
    /// epochs of `steps` steps each, from the base rate `lr`.
    public func rate(_ lr: Double, epoch: Int, step: Int, steps: Int, epochs: Int) -> Double {
        let t = (epoch - 1) * steps + step
        if kind == .onecycle {
            let total = epochs * steps
            let up = 0.3 * Double(total) - 1.0
            let initial = lr / 25.0
            let floor = initial / 1e4
            if Double(t) <= up {
                return Self.annealCos(initial, lr, Double(t) / up)
            }
            return Self.annealCos(lr, floor, (Double(t) - up) / (Double(total - 1) - up))
        }
        let w = warmupEpochs * steps
        if t < w { return lr * Double(t + 1) / Double(w) }
        let k = epoch - 1 - warmupEpochs
        switch kind {
        case .constant, .onecycle:
            return lr
        case .step:
            return lr * pow(gamma, Double(k / stepSize))
        case .cosine:
            let angle = 3.14159265358979323846 * Double(k) / Double(epochs - warmupEpochs)
            let half = (1.0 + cos(angle)) / 2.0
            let span = (lr - lrMin) * half
            return lrMin + span
        }
    }

    /// PyTorch's `_annealing_cos`: `end + (start - end) / 2 * (cos(pi * pct) + 1)`.
    static func annealCos(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        let c = cos(3.14159265358979323846 * pct) + 1.0
        let span = (start - end) / 2.0 * c
        return end + span
    }
}
