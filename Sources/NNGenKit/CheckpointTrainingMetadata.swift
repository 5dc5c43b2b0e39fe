import Foundation

/// The `train_*` metadata of a checkpoint (docs/CONVENTIONS.md, checkpoint format): the
/// schedule, the clipping norm and the monitor of the run that wrote it, so that `--resume`
/// continues them. Each group is written only when the run used it; a checkpoint without them
/// (also every checkpoint written before they existed) resumes with a constant rate, no clipping
/// and a fresh monitor.
extension Checkpoint {
    /// The `train_*` keys and their texts (numbers as Swift prints a Double or an Int).
    var trainingMetadata: [String: String] {
        var m: [String: String] = [:]
        if let s = schedule {
            m["train_schedule"] = s.kind.rawValue
            m["train_warmup"] = String(s.warmupEpochs)
            m["train_step_size"] = String(s.stepSize)
            m["train_gamma"] = "\(s.gamma)"
            m["train_lr_min"] = "\(s.lrMin)"
        }
        if let c = clipNorm { m["train_clip_norm"] = "\(c)" }
        if let mon = monitor, let best = mon.best {
            m["train_monitor"] = mon.metric.rawValue
            m["train_min_delta"] = "\(mon.minDelta)"
            m["train_patience"] = mon.patience.map(String.init) ?? "none"
            m["train_best"] = "\(best.value)"
            m["train_best_epoch"] = String(best.epoch)
            m["train_bad_epochs"] = String(mon.badEpochs)
        }
        return m
    }

    /// Decodes the `train_*` metadata; a key of a group that is present must be readable.
    static func readTrainingMetadata(_ meta: [String: String], source: String) throws
        -> (LearningRateSchedule?, Double?, MonitorState?)
    {
        func bad(_ key: String, _ expected: String) -> CheckpointError {
            .badMetadata(file: source, key: key, found: meta[key], expected: expected)
        }
        func int(_ key: String, min: Int) throws -> Int {
            guard let t = meta[key], let v = Int(t), v >= min else { throw bad(key, "an integer of at least \(min)") }
            return v
        }
        func number(_ key: String, positive: Bool = false) throws -> Double {
            guard let t = meta[key], let v = Double(t), v.isFinite, positive ? v > 0 : v >= 0 else {
                throw bad(key, positive ? "a positive number" : "a number of at least 0")
            }
            return v
        }
        var schedule: LearningRateSchedule?
        if let name = meta["train_schedule"] {
            guard let kind = LearningRateSchedule.Kind(rawValue: name) else {
                throw bad("train_schedule", LearningRateSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            schedule = LearningRateSchedule(kind: kind, warmupEpochs: try int("train_warmup", min: 0),
                                            stepSize: try int("train_step_size", min: 1),
                                            gamma: try number("train_gamma", positive: true), lrMin: try number("train_lr_min"))
        }
        let clip = meta["train_clip_norm"] == nil ? nil : try number("train_clip_norm", positive: true)
        var monitor: MonitorState?
        if let name = meta["train_monitor"] {
            guard let metric = MonitoredMetric(rawValue: name) else { throw bad("train_monitor", "val_loss or val_acc") }
            let patience = meta["train_patience"] == "none" ? nil : try int("train_patience", min: 0)
            guard let bestText = meta["train_best"], let best = Double(bestText), best.isFinite else {
                throw bad("train_best", "a finite number")
            }
            monitor = MonitorState(metric: metric, minDelta: try number("train_min_delta"), patience: patience,
                                   best: (best, try int("train_best_epoch", min: 1)),
                                   badEpochs: try int("train_bad_epochs", min: 0))
        }
        return (schedule, clip, monitor)
    }
}
