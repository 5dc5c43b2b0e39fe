import CodeGen
import DataIO
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import JIT
import ModelSpec
@testable import NNGenKit
import XCTest

/// `--log` and `--plot` in both trainers: the same log rows (wall-clock columns aside) and the
/// same SVG bytes; the SVG is well-formed XML whose polylines are the logged values mapped
/// through the axes; bad paths are refused before training.
final class TrainingCurvesTests: XCTestCase {
    /// The standalone ./train and the Swift trainer (same C through cc) write the same log
    /// (epoch, lr, train_loss, val_loss, val_acc/val_r2) and byte-identical SVG curves.
    func testBothTrainersWriteTheSameLogAndPlot() throws {
        for (name, data, scalar, ext) in [("digits_mlp", "digits.csv", ScalarType.f32, "csv"),
                                          ("diabetes", "diabetes.csv", .f64, "jsonl")] {
            let build = try StandaloneTests.build(name, scalar)
            let dir = try scratch()
            let run = try StandaloneTests.train(build, data, ["--epochs", "3", "--log", "c.\(ext)", "--plot", "c.svg"], in: dir)
            XCTAssertEqual(run.status, 0, run.stderr)

            let dataset = try ModelData.load(StandaloneTests.dataURL(data), for: build.analysis)
            let options = TrainingOptions(epochs: 3, learningRate: build.analysis.model.optimizer.learningRate, scalar: scalar)
            let trainer = try Trainer(analysis: build.analysis, dataset: dataset, options: options, backend: CCBackend())
            let log = dir.appendingPathComponent("s.\(ext)"), plot = dir.appendingPathComponent("s.svg")
            let recorder = try TrainingRecorder(log: log, plot: plot, loss: build.analysis.model.loss)
            recorder.begin()
            try trainer.run(onEpoch: { try recorder.record($0, learningRate: options.learningRate) })

            let cLog = try String(contentsOf: dir.appendingPathComponent("c.\(ext)"), encoding: .utf8)
            let swiftLog = try String(contentsOf: log, encoding: .utf8)
            XCTAssertEqual(withoutTimes(cLog), withoutTimes(swiftLog), name)
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("c.svg")), try Data(contentsOf: plot), "\(name): SVG bytes")
            // The log reads back with the numbers of the epoch lines.
            let parsed = try MetricsLog.read(from: dir.appendingPathComponent("c.\(ext)"))
            XCTAssertEqual(parsed.rows.map(\.epoch), [1, 2, 3])
            XCTAssertEqual(parsed.metric, name == "diabetes" ? .r2 : .accuracy)
            let lines = try StandaloneTests.epochLines(run.stdout)
            for (row, line) in zip(parsed.rows, lines) {
                // The log holds 9 significant digits, the line 6 decimals.
                XCTAssertEqual(row.trainLoss, line.trainLoss, accuracy: 5e-7 + 1e-8 * abs(line.trainLoss))
                XCTAssertEqual(row.learningRate, build.analysis.model.optimizer.learningRate)
                if let acc = line.valAcc { XCTAssertEqual((row.valMetric ?? -1) * 100, acc, accuracy: 0.005 + 1e-9) }
                XCTAssertNotNil(row.valMetric, "val_acc or val_r2 is logged")
            }
            // `nngen plot LOG` draws the very same picture from the log afterwards.
            XCTAssertEqual(TrainingPlot.svg([.init(label: nil, log: parsed)]), swiftSVG(plot))
        }
    }

    /// Without a validation part: empty val columns, one loss curve, "no validation part" on the
    /// right; the runtime's SVG is the one TrainingPlot draws from its log.
    func testNoValidationPart() throws {
        let build = try StandaloneTests.build("iris", .f32)
        let dir = try scratch()
        let run = try StandaloneTests.train(build, "iris.csv", ["--epochs", "2", "--val-split", "0", "--log", "p.csv",
                                                                "--plot", "p.svg"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let text = try String(contentsOf: dir.appendingPathComponent("p.csv"), encoding: .utf8)
        let rows = text.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows.map { Array($0[3...4]) }, [["", ""], ["", ""]])
        let log = try MetricsLog.read(from: dir.appendingPathComponent("p.csv"))
        let svg = try String(contentsOf: dir.appendingPathComponent("p.svg"), encoding: .utf8)
        XCTAssertEqual(TrainingPlot.svg([.init(label: nil, log: log)]), svg)
        let elements = try SVGElements(svg)
        XCTAssertEqual(elements.all.filter { $0.name == "polyline" }.count, 1)
        XCTAssertTrue(elements.texts.contains("no validation part"))
    }

    /// The log's text, exactly: header, rows, missing values empty (CSV) or null (JSON Lines).
    func testLogText() throws {
        let rows = [MetricsRow(epoch: 1, learningRate: 0.01, trainLoss: 1.0 / 3, valLoss: nil, valMetric: nil,
                               samplesPerSecond: 1234.4, wallSeconds: 0.12345),
                    MetricsRow(epoch: 2, learningRate: 1e-5, trainLoss: 0.25, valLoss: 0.5, valMetric: 0.9,
                               samplesPerSecond: 99.5, wallSeconds: 2)]
        let log = MetricsLog(metric: .accuracy, rows: rows)
        XCTAssertEqual(log.text(.csv), """
            epoch,lr,train_loss,val_loss,val_acc,samples_per_s,wall_s
            1,0.01,0.333333333,,,1234,0.123
            2,1e-05,0.25,0.5,0.9,100,2.000

            """)
        XCTAssertEqual(log.text(.jsonl), """
            {"epoch":1,"lr":0.01,"train_loss":0.333333333,"val_loss":null,"val_acc":null,"samples_per_s":1234,"wall_s":0.123}
            {"epoch":2,"lr":1e-05,"train_loss":0.25,"val_loss":0.5,"val_acc":0.9,"samples_per_s":100,"wall_s":2.000}

            """)
        for format in [MetricsLogFormat.csv, .jsonl] {
            XCTAssertEqual(try MetricsLog.parse(log.text(format), format: format, file: "x"), log)
        }
        XCTAssertThrowsError(try MetricsLog.parse("epoch,lr\n1,2\n", format: .csv, file: "bad.csv")) {
            XCTAssertTrue("\($0)".hasPrefix("bad.csv, line 1: the header is 'epoch,lr'"), "\($0)")
        }
        XCTAssertThrowsError(try MetricsLog.parse(log.text(.csv) + "3,x,1,,,1,1\n", format: .csv, file: "bad.csv")) {
            XCTAssertEqual("\($0)", "bad.csv, line 4: lr is 'x', not a number")
        }
    }

    /// The SVG parses as XML; each polyline's points are the logged values through the axes;
    /// losses spanning decades get a log axis with ticks at powers of ten.
    func testSVGParsesAndPointsAreTheLoggedValues() throws {
        let losses = [2.0, 0.5, 0.08, 0.01]
        let rows = losses.enumerated().map { i, l in
            MetricsRow(epoch: i + 1, learningRate: 0.1, trainLoss: l, valLoss: l * 1.5, valMetric: 0.5 + 0.1 * Double(i),
                       samplesPerSecond: 10, wallSeconds: Double(i))
        }
        let log = MetricsLog(metric: .accuracy, rows: rows)
        let svg = TrainingPlot.svg([.init(label: nil, log: log)])
        let elements = try SVGElements(svg)
        XCTAssertEqual(elements.root, "svg")
        let polylines = elements.all.filter { $0.name == "polyline" }
        XCTAssertEqual(polylines.count, 3, "train loss, validation loss, validation accuracy")
        XCTAssertTrue(elements.texts.contains("loss (log scale)"), "\(elements.texts)")
        XCTAssertTrue(elements.texts.contains("validation accuracy (%)"))
        for tick in ["0.01", "0.1", "1", "10"] { XCTAssertTrue(elements.texts.contains(tick), "tick \(tick): \(elements.texts)") }
        XCTAssertTrue(elements.texts.contains("train") && elements.texts.contains("validation"), "legend")

        let x = TrainingPlot.epochAxis([1, 2, 3, 4])
        let lossAxis = TrainingPlot.valueAxis(losses + losses.map { $0 * 1.5 }, allowLog: true)
        XCTAssertEqual(lossAxis, TrainingPlot.Axis(low: -2, high: 1, log: true, ticks: [0.01, 0.1, 1, 10]))
        let accAxis = TrainingPlot.valueAxis(rows.map { $0.valMetric! * 100 }, allowLog: false)
        XCTAssertEqual(accAxis.log, false)
        XCTAssertEqual(accAxis.low, 50)
        XCTAssertEqual(accAxis.high, 80)
        func points(_ p: Int, _ axis: TrainingPlot.Axis, _ values: [Double]) -> String {
            values.enumerated().map { TrainingPlot.point(panel: p, x: x, y: axis, epoch: Double($0 + 1), value: $1) }
                .joined(separator: " ")
        }
        XCTAssertEqual(polylines[0].attributes["points"], points(0, lossAxis, losses))
        XCTAssertEqual(polylines[1].attributes["points"], points(0, lossAxis, losses.map { $0 * 1.5 }))
        XCTAssertEqual(polylines[2].attributes["points"], points(1, accAxis, rows.map { $0.valMetric! * 100 }))
        // By hand: epoch 1 is the left edge (x 64), loss 2 is log10(2) + 2 = 2.30103 decades up the
        // 3-decade axis from 0.01 to 10: y = 280 - 240 * 2.30103 / 3 = 95.92.
        XCTAssertEqual(polylines[0].attributes["points"]?.split(separator: " ").first, "64.00,95.92")
        // Epoch 4's accuracy 80% is the top of the right panel (x 444 + 280, y 40).
        XCTAssertEqual(polylines[2].attributes["points"]?.split(separator: " ").last, "724.00,40.00")

        // A linear loss axis: a step of 0.2 (the first nice one above 0.59 / 5), ticks around the values.
        XCTAssertEqual(TrainingPlot.valueAxis([0.31, 0.9], allowLog: true),
                       TrainingPlot.Axis(low: 0.2, high: 1.0, log: false, ticks: [0.2, 0.4, 0.6000000000000001, 0.8, 1.0]))
    }

    /// Several runs in one plot: one colour per run, train dashed, the run names in the legends.
    func testSeveralRunsCompare() throws {
        func log(_ scale: Double) -> MetricsLog {
            MetricsLog(metric: .r2, rows: (1...3).map {
                MetricsRow(epoch: $0, learningRate: 0.1, trainLoss: scale / Double($0), valLoss: scale / Double($0) + 0.1,
                           valMetric: 0.2 * Double($0), samplesPerSecond: 1, wallSeconds: 1)
            })
        }
        let svg = TrainingPlot.svg([.init(label: "a<b", log: log(1)), .init(label: "run2", log: log(2))])
        let elements = try SVGElements(svg)
        let polylines = elements.all.filter { $0.name == "polyline" }
        XCTAssertEqual(polylines.count, 6)
        XCTAssertEqual(polylines.map { $0.attributes["stroke"] ?? "" },
                       ["#1f77b4", "#1f77b4", "#ff7f0e", "#ff7f0e", "#1f77b4", "#ff7f0e"])
        XCTAssertEqual(polylines.map { $0.attributes["stroke-dasharray"] != nil }, [true, false, true, false, false, false])
        for text in ["a<b train", "a<b validation", "run2 train", "run2 validation", "a<b", "run2", "validation R^2"] {
            XCTAssertTrue(elements.texts.contains(text), "\(text) in \(elements.texts)")
        }
    }

    /// Bad --log/--plot values: exit 2 naming the flag and what it needs; unwritable paths: exit 1
    /// before any epoch, naming the path and the reason; a failing write keeps the checkpoint.
    func testBadPathsInTheStandaloneTrainer() throws {
        let build = try StandaloneTests.build("digits_mlp", .f32)
        let dir = try scratch()
        let txt = try StandaloneTests.train(build, "digits.csv", ["--log", "run.txt"], in: dir)
        XCTAssertEqual(txt.status, 2)
        XCTAssertTrue(txt.stderr.hasPrefix("train: --log needs a file ending in .csv or .jsonl, got 'run.txt'\n")
                      || txt.stderr.contains(": --log needs a file ending in .csv or .jsonl, got 'run.txt'\n"), txt.stderr)
        let png = try StandaloneTests.train(build, "digits.csv", ["--plot", "run.png"], in: dir)
        XCTAssertEqual(png.status, 2)
        XCTAssertTrue(png.stderr.contains("--plot needs a file ending in .svg, got 'run.png'"), png.stderr)
        let missing = try StandaloneTests.train(build, "digits.csv", ["--epochs", "1", "--plot", "no/run.svg"], in: dir)
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stdout, "")
        XCTAssertEqual(missing.stderr, "error: no/run.svg: cannot write the file (any earlier file there is unchanged): "
                       + "cannot write a temporary file in no: the folder does not exist\n")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("d.csv"), withIntermediateDirectories: true)
        let folder = try StandaloneTests.train(build, "digits.csv", ["--epochs", "1", "--log", "d.csv"], in: dir)
        XCTAssertEqual(folder.status, 1)
        XCTAssertTrue(folder.stderr.contains("d.csv: cannot write the file (any earlier file there is unchanged): it is a "
                                             + "folder; --log needs a file name"), folder.stderr)
    }

    // MARK: helpers

    private func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("TrainingCurvesTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func swiftSVG(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// A log's text without samples_per_s and wall_s (wall-clock numbers), CSV or JSON Lines.
    private func withoutTimes(_ text: String) -> String {
        text.split(separator: "\n").map { line -> String in
            if line.hasPrefix("{") {
                return String(line[..<(line.range(of: ",\"samples_per_s\"")?.lowerBound ?? line.endIndex)])
            }
            return line.split(separator: ",", omittingEmptySubsequences: false).dropLast(2).joined(separator: ",")
        }.joined(separator: "\n")
    }
}

/// The elements of an SVG file, parsed with Foundation's XMLParser (which fails on malformed XML).
final class SVGElements: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
    }

    private(set) var all: [Element] = []
    private(set) var texts: [String] = []
    private var text = ""
    var root: String? { all.first?.name }

    init(_ svg: String) throws {
        super.init()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = self
        guard parser.parse() else {
            throw NSError(domain: "SVG", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)"])
        }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        all.append(Element(name: name, attributes: attributes))
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" { texts.append(text) }
        text = ""
    }
}

/// A log or plot that cannot be written after training started stops the run with the write's
/// error, after the epoch's checkpoint is saved: the checkpoint is never lost to it.
final class TrainingRecorderFailureTests: XCTestCase {
    func testAFailedLogWriteKeepsTheCheckpoint() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("RecorderFailure-\(UUID().uuidString)")
        let logs = root.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        let analysis = try Model.load(from: StandaloneTests.root.appendingPathComponent("examples/iris.json")).analyze()
        let dataset = try ModelData.load(StandaloneTests.dataURL("iris.csv"), for: analysis)
        let ck = root.appendingPathComponent("ck.safetensors")
        let options = TrainingOptions(epochs: 3, learningRate: analysis.model.optimizer.learningRate, save: ck)
        let trainer = try Trainer(analysis: analysis, dataset: dataset, options: options, backend: TCCBackend())
        let recorder = try TrainingRecorder(log: logs.appendingPathComponent("run.csv"), plot: nil, loss: analysis.model.loss)
        // The folder disappears after the check, before the first epoch's row.
        try FileManager.default.removeItem(at: logs)
        XCTAssertThrowsError(try trainer.run(onEpoch: { try recorder.record($0, learningRate: options.learningRate) })) {
            XCTAssertTrue("\($0)".hasPrefix("\(logs.path)/run.csv: cannot write the file (any earlier file there is unchanged)"),
                          "\($0)")
        }
        XCTAssertEqual(try Checkpoint.read(from: ck).epoch, 1, "epoch 1's checkpoint was saved before its log row")
        XCTAssertEqual(recorder.log.rows.map(\.epoch), [1])
    }

    /// Bad extensions are refused by the recorder itself (library callers), naming the flag.
    func testExtensionsAreChecked() throws {
        XCTAssertThrowsError(try TrainingRecorder(log: URL(fileURLWithPath: "/tmp/x.txt"), plot: nil, loss: .mse)) {
            XCTAssertEqual("\($0)", "--log needs a file ending in .csv or .jsonl, got /tmp/x.txt")
        }
        XCTAssertThrowsError(try TrainingRecorder(log: nil, plot: URL(fileURLWithPath: "/tmp/x.png"), loss: .mse)) {
            XCTAssertEqual("\($0)", "--plot needs a file ending in .svg, got /tmp/x.png")
        }
    }
}
