import ArgumentParser
import DataIO
import Foundation
import ModelSpec
import NNGenKit

/// `nngen inspect FILE.safetensors`: tensors (name, dtype, shape, min/max/mean), metadata, and
/// the summary of the model the file carries.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a safetensors file's tensors (name, dtype, shape, min/max/mean) and metadata.",
        discussion: """
        Works on checkpoints (nngen train --save, ./train --save), parameter files (nngen init), \
        gradient files (nngen grad) and data sets. Statistics are over the finite values, in \
        double; NaN and infinite values are counted apart. When the file carries a model (metadata \
        "model"), its summary follows, as nngen describe prints it.
        """)

    @Argument(help: ArgumentHelp("The safetensors file.", valueName: "file.safetensors"))
    var file: String

    func run() throws {
        let info = try Inspection(contentsOf: URL(fileURLWithPath: file))
        print(inspectionText(info, file: file), terminator: "")
    }
}

/// The text `nngen inspect` prints.
func inspectionText(_ info: Inspection, file: String) -> String {
    var out = "\(file): \(ByteSize.text(info.fileBytes)), \(info.tensors.count) tensor\(info.tensors.count == 1 ? "" : "s")\n"
    if !info.metadata.isEmpty {
        out += "\nmetadata:\n"
        let width = info.metadata.map(\.key.count).max() ?? 0
        for (key, value) in info.metadata {
            let shown = key == "model" && info.model != nil
                ? "the model JSON (\(value.utf8.count) bytes), summarised below" : Messages.shown(value)
            out += "  " + key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + shown + "\n"
        }
    }
    func g(_ v: Double?) -> String { v.map { String(format: "%.6g", $0) } ?? "-" }
    var rows = [["name", "dtype", "shape", "min", "max", "mean", "bytes"]]
    for t in info.tensors {
        rows.append([t.name, t.dtype.rawValue, "[" + t.shape.map(String.init).joined(separator: ", ") + "]", g(t.min), g(t.max),
                     g(t.mean) + (t.nonFinite > 0 ? " (\(t.nonFinite) NaN/inf)" : ""), ModelSummary.grouped(t.bytes)])
    }
    out += "\ntensors:\n" + ModelSummary.table(rows, rightAligned: [3, 4, 5, 6], endRule: false)
    if let model = info.model, let analysis = try? model.analyze(file: file) {
        out += "\nmodel (from the \"model\" metadata):\n" + ModelSummary(analysis).text
    }
    return out
}

