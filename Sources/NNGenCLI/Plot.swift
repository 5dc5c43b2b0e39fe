import ArgumentParser
import DataIO
import Foundation
import NNGenKit

/// `nngen plot LOG... -o FILE.svg`: training curves drawn from one or several metrics logs.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw training curves (SVG) from one or several metrics logs written by train --log.",
        discussion: """
        The picture train --plot draws: the train and validation loss per epoch on the left (a \
        log scale when the losses span two decades or more), the validation accuracy (%) or R^2 on \
        the right. One log gives the very file train --plot wrote for that run; several logs are \
        compared in one picture, one colour per run (train dashed, validation solid), each named by \
        its file name. The logs must all hold val_acc or all val_r2.
        """)

    @Argument(help: ArgumentHelp("Metrics logs (.csv or .jsonl) written by nngen train --log or ./train --log.", valueName: "log"))
    var logs: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("The SVG file to write.", valueName: "file.svg"))
    var output: String

    func validate() throws {
        if logs.isEmpty { throw ValidationError("give at least one metrics log (a .csv or .jsonl file from train --log)") }
        if URL(fileURLWithPath: output).pathExtension.lowercased() != "svg" {
            throw ValidationError("--output needs a file ending in .svg, got \(output)")
        }
        for log in logs where MetricsLogFormat(path: log) == nil {
            throw ValidationError("\(log) is not a metrics log: a log ends in .csv or .jsonl")
        }
    }

    func run() throws {
        let url = URL(fileURLWithPath: output)
        try AtomicFile.checkWritable(url)
        let parsed = try logs.map { try MetricsLog.read(from: URL(fileURLWithPath: $0)) }
        for (log, file) in zip(parsed, logs) where log.metric != parsed[0].metric {
            throw UserError("\(file) logs \(log.metric.rawValue) but \(logs[0]) logs \(parsed[0].metric.rawValue); "
                            + "a classification run and a regression run cannot share one plot")
        }
        let stems = logs.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
        let labels = Set(stems).count == stems.count ? stems : logs
        let runs = zip(labels, parsed).map { TrainingPlot.Run(label: logs.count == 1 ? nil : $0, log: $1) }
        try AtomicFile.write(Data(TrainingPlot.svg(runs).utf8), to: url)
        let epochs = parsed.map { "\($0.rows.count)" }.joined(separator: ", ")
        print("wrote \(output): \(logs.count) run\(logs.count == 1 ? "" : "s") (\(epochs) epochs)")
    }
}
