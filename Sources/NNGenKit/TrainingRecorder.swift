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
        if let problem = Self.extensionProblem(log: log?.path, plot: nil) { throw TrainingError.invalidOption(problem) }
        if let log, let format = MetricsLogFormat(path: log.path) {
            try AtomicFile.checkWritable(log)
            logFile = (log, format)
        } else {
            logFile = nil
        }
        if let problem = Self.extensionProblem(log: nil, plot: plot?.path) { throw TrainingError.invalidOption(problem) }
        if let plot { try AtomicFile.checkWritable(plot) }
        plotFile = plot
        self.log = MetricsLog(metric: loss.targets == .values ? .r2 : .accuracy)
    }

    /// What is wrong with the extensions of `--log` (.csv or .jsonl) and `--plot` (.svg), paths as
    /// the message should name them; nil when both are fine or absent. The command reports it as a
    /// usage error before anything runs, the initializer as `TrainingError.invalidOption`.
    public static func extensionProblem(log: String?, plot: String?) -> String? {
        if let log, MetricsLogFormat(path: log) == nil { return "--log needs a file ending in .csv or .jsonl, got \(log)" }
        if let plot, URL(fileURLWithPath: plot).pathExtension.lowercased() != "svg" {
            return "--plot needs a file ending in .svg, got \(plot)"
        }
        return nil
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
