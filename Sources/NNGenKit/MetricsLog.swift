import DataIO
import Foundation

/// Which validation metric a metrics log holds besides the loss: the accuracy (classification,
/// a fraction in [0, 1]) or the coefficient of determination R^2 (regression).
public enum ValidationMetric: String, Sendable, Equatable {
    /// `val_acc`: correct / judged, as a fraction.
    case accuracy = "val_acc"
    /// `val_r2`: 1 - SS_res / SS_tot averaged over outputs.
    case r2 = "val_r2"
}

/// The two formats of `--log`, chosen by the file's extension.
public enum MetricsLogFormat: String, Sendable, Equatable {
    /// `.csv`: a header row, then one row per epoch; a missing value is an empty field.
    case csv
    /// `.jsonl`: one JSON object per line; a missing value is `null`.
    case jsonl

    /// The format of `path` by its extension (`.csv` or `.jsonl`, any case), or nil.
    public init?(path: String) {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "csv": self = .csv
        case "jsonl": self = .jsonl
        default: return nil
        }
    }
}

/// One epoch of a metrics log. The numbers are those the log holds: losses, lr and metric as
/// `%.9g` text, samples/s as `%.0f`, wall seconds as `%.3f` (both trainers write the same text).
public struct MetricsRow: Sendable, Equatable {
    /// The epoch, 1-based.
    public var epoch: Int
    /// The learning rate used in the epoch.
    public var learningRate: Double
    /// The mean of the epoch's batch losses.
    public var trainLoss: Double
    /// The validation loss, when there is a validation part.
    public var valLoss: Double?
    /// `val_acc` (a fraction) or `val_r2`, when known.
    public var valMetric: Double?
    /// Training samples per second of the epoch.
    public var samplesPerSecond: Double
    /// Seconds since the run started, at the end of the epoch.
    public var wallSeconds: Double

    /// A row with every number rounded to the text the log writes for it.
    public init(epoch: Int, learningRate: Double, trainLoss: Double, valLoss: Double?, valMetric: Double?,
                samplesPerSecond: Double, wallSeconds: Double) {
        func g(_ v: Double) -> Double { Double(cFormat("%.9g", v)) ?? v }
        self.epoch = epoch
        self.learningRate = g(learningRate)
        self.trainLoss = g(trainLoss)
        self.valLoss = valLoss.map(g)
        self.valMetric = valMetric.map(g)
        self.samplesPerSecond = Double(cFormat("%.0f", samplesPerSecond)) ?? samplesPerSecond
        self.wallSeconds = Double(cFormat("%.3f", wallSeconds)) ?? wallSeconds
    }
}

/// A metrics log (`--log FILE`): one row per epoch with epoch, lr, train_loss, val_loss, val_acc
/// or val_r2, samples_per_s and wall_s (docs/TRAINING.md, The metrics log).
public struct MetricsLog: Sendable, Equatable {
    /// The validation metric of the rows.
    public var metric: ValidationMetric
    /// The epochs, in order.
    public var rows: [MetricsRow]

    /// A log of `rows` whose metric is `metric`.
    public init(metric: ValidationMetric, rows: [MetricsRow] = []) {
        self.metric = metric
        self.rows = rows
    }

    /// The column names, in order.
    public var columns: [String] {
        ["epoch", "lr", "train_loss", "val_loss", metric.rawValue, "samples_per_s", "wall_s"]
    }

    /// The file's text in `format`.
    public func text(_ format: MetricsLogFormat) -> String {
        var out = format == .csv ? columns.joined(separator: ",") + "\n" : ""
        for r in rows {
            let values = [String(r.epoch), cFormat("%.9g", r.learningRate), cFormat("%.9g", r.trainLoss),
                          r.valLoss.map { cFormat("%.9g", $0) }, r.valMetric.map { cFormat("%.9g", $0) },
                          cFormat("%.0f", r.samplesPerSecond), cFormat("%.3f", r.wallSeconds)]
            switch format {
            case .csv:
                out += values.map { $0 ?? "" }.joined(separator: ",") + "\n"
            case .jsonl:
                out += "{" + zip(columns, values).map { "\"\($0)\":\($1 ?? "null")" }.joined(separator: ",") + "}\n"
            }
        }
        return out
    }

    /// Reads a log written by `--log` (either trainer): CSV or JSON Lines by its extension.
    /// - Throws: `MetricsLogError` naming the file and line.
    public static func read(from url: URL) throws -> MetricsLog {
        guard let format = MetricsLogFormat(path: url.path) else {
            throw MetricsLogError(file: url.path, line: nil,
                                  message: "unknown log format; a metrics log ends in .csv or .jsonl")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MetricsLogError(file: url.path, line: nil, message: "cannot read the file: "
                                  + (FileManager.default.fileExists(atPath: url.path) ? "permission denied or not a file"
                                                                                         : "no such file"))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw MetricsLogError(file: url.path, line: nil, message: "the file is not UTF-8 text")
        }
        return try parse(text, format: format, file: url.path)
    }

    /// Parses a log's text; `file` names it in errors.
    public static func parse(_ text: String, format: MetricsLogFormat, file: String) throws -> MetricsLog {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var rows: [MetricsRow] = []
        var metric: ValidationMetric?
        func fail(_ line: Int, _ message: String) -> MetricsLogError {
            MetricsLogError(file: file, line: line, message: message)
        }
        func number(_ text: String?, _ name: String, _ line: Int, optional: Bool) throws -> Double? {
            guard let text, !text.isEmpty, text != "null" else {
                if optional { return nil }
                throw fail(line, "\(name) is missing")
            }
            guard let v = Double(text), v.isFinite else { throw fail(line, "\(name) is '\(text)', not a number") }
            return v
        }
        func row(_ fields: [String: String], _ line: Int) throws -> MetricsRow {
            guard let e = fields["epoch"], let epoch = Int(e), epoch >= 1 else {
                throw fail(line, "epoch is '\(fields["epoch"] ?? "")', not a positive integer")
            }
            let m = metric?.rawValue ?? ValidationMetric.accuracy.rawValue
            return MetricsRow(epoch: epoch, learningRate: try number(fields["lr"], "lr", line, optional: false)!,
                              trainLoss: try number(fields["train_loss"], "train_loss", line, optional: false)!,
                              valLoss: try number(fields["val_loss"], "val_loss", line, optional: true),
                              valMetric: try number(fields[m], m, line, optional: true),
                              samplesPerSecond: try number(fields["samples_per_s"], "samples_per_s", line, optional: false)!,
                              wallSeconds: try number(fields["wall_s"], "wall_s", line, optional: false)!)
        }
        switch format {
        case .csv:
            guard let header = lines.first, !header.isEmpty else { throw fail(1, "the file is empty; expected a header row") }
            let names = header.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            for candidate in [ValidationMetric.accuracy, .r2] where names == MetricsLog(metric: candidate).columns {
                metric = candidate
            }
            guard metric != nil else {
                throw fail(1, "the header is '\(header)'; expected "
                           + "'\(MetricsLog(metric: .accuracy).columns.joined(separator: ","))' (or val_r2 for val_acc)")
            }
            for (i, line) in lines.enumerated().dropFirst() where !line.isEmpty {
                let values = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard values.count == names.count else {
                    throw fail(i + 1, "\(values.count) fields; expected \(names.count)")
                }
                rows.append(try row(Dictionary(uniqueKeysWithValues: zip(names, values)), i + 1))
            }
        case .jsonl:
            for (i, line) in lines.enumerated() where !line.isEmpty {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw fail(i + 1, "not a JSON object")
                }
                var fields: [String: String] = [:]
                for (k, v) in object {
                    if let n = v as? NSNumber { fields[k] = n.stringValue } else if v is NSNull { fields[k] = "null" }
                }
                if metric == nil { metric = object.keys.contains("val_r2") ? .r2 : .accuracy }
                rows.append(try row(fields, i + 1))
            }
        }
        guard !rows.isEmpty else { throw fail(lines.count, "the log holds no epoch") }
        return MetricsLog(metric: metric ?? .accuracy, rows: rows)
    }
}

/// A metrics log that cannot be read: the file, the line (when known) and what is wrong.
public struct MetricsLogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The log file.
    public var file: String
    /// The 1-based line, when the problem is on one line.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// `FILE, line L: MESSAGE`.
    public var description: String { file + (line.map { ", line \($0)" } ?? "") + ": " + message }
}
