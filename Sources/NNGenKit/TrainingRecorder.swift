import DataIO
import Foundation
import ModelSpec

/// What `--log` and `--plot` ask for in a training run: after every epoch (and after its
/// checkpoint is saved) the metrics log is rewritten atomically with one more row, and the SVG
/// curves are redrawn atomically. The standalone runtime's nn_rt_log.c and nn_rt_plot.c write the
/// same bytes (the wall-clock columns aside).
public final class TrainingRecorder {
    /// The log file and its format, if any.
    public let logFile: (url: URL, format: MetricsLogFormat)?
    /// The SVG file, if any.
    public let plotFile: URL?
    /// The epochs recorded so far.
    public private(set) var log: MetricsLog
    private var start = DispatchTime.now().uptimeNanoseconds

    /// A recorder for a model trained with `loss` (which decides val_acc or val_r2). Checks,
    /// before any training, that `log` ends in .csv or .jsonl and `plot` in .svg
    /// (`TrainingError.invalidOption` naming the flag) and that both can be written (the
    /// `DataError` a write would give, naming the path and the reason).
    public init(log: URL?, plot: URL?, loss: Loss) throws {
        if let log {
            guard let format = MetricsLogFormat(path: log.path) else {
                throw TrainingError.invalidOption("--log needs a file ending in .csv or .jsonl, got \(log.path)")
            }
            try AtomicFile.checkWritable(log)
            logFile = (log, format)
        } else {
            logFile = nil
        }
        if let plot {
            guard plot.pathExtension.lowercased() == "svg" else {
                throw TrainingError.invalidOption("--plot needs a file ending in .svg, got \(plot.path)")
            }
            try AtomicFile.checkWritable(plot)
        }
        plotFile = plot
        self.log = MetricsLog(metric: loss.targets == .values ? .r2 : .accuracy)
    }

    /// Starts the wall clock of the `wall_s` column: call it just before the first epoch.
    public func begin() { start = DispatchTime.now().uptimeNanoseconds }

    /// The row of `report`, run with learning rate `learningRate`, `wallSeconds` after the start.
    public func row(_ report: EpochReport, learningRate: Double, wallSeconds: Double) -> MetricsRow {
        let v = report.validation
        return MetricsRow(epoch: report.epoch, learningRate: learningRate, trainLoss: report.trainLoss, valLoss: v?.loss,
                          valMetric: log.metric == .accuracy ? v?.accuracy : v?.r2,
                          samplesPerSecond: report.samplesPerSecond, wallSeconds: wallSeconds)
    }

    /// Adds the epoch of `report` and rewrites the log and the plot. The wall time is counted
    /// from `begin()` (or this recorder's creation).
    /// - Throws: the `DataError` of a failed write (the file keeps its previous contents).
    public func record(_ report: EpochReport, learningRate: Double) throws {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        log.rows.append(row(report, learningRate: learningRate, wallSeconds: seconds))
        if let (url, format) = logFile { try AtomicFile.write(Data(log.text(format).utf8), to: url) }
        if let plotFile { try AtomicFile.write(Data(TrainingPlot.svg([.init(label: nil, log: log)]).utf8), to: plotFile) }
    }
}
