import ArgumentParser
import DataIO
import Foundation
import ModelSpec

/// `nngen convert DATA.csv -o DATA.safetensors`: a CSV data file as a safetensors data file that
/// training memory-maps.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a CSV data file to a safetensors data file (x, y) for fast, memory-mapped training.",
        discussion: """
        The last --targets columns (default 1) are the targets, the others the inputs. One target \
        column whose values are all whole numbers >= 0 is stored as labels (y: I64 [N]), unless \
        --values is given; otherwise y holds the values ([N, targets], in --dtype). x is [N, F] in \
        --dtype (f32 by default; f32 rounds each value to the nearest float, f64 keeps it). The \
        header's metadata hold the source file's name and the row count (docs/CONVENTIONS.md, \
        Files). The CSV is read with the same rules and messages as training.
        """)

    @Argument(help: "The CSV data file.")
    var input: String

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The safetensors file to write (atomically).", valueName: "file"))
    var output: String

    @Option(help: "The element type of x (and of target values): f32 or f64.")
    var dtype: ScalarType = .f32

    @Option(help: "The number of target columns at the end of each row.")
    var targets: Int = 1

    @Flag(help: "Store one target column as values (F32/F64 [N, 1]) even when it holds whole numbers.")
    var values = false

    func validate() throws {
        guard targets >= 1 else { throw ValidationError("--targets must be at least 1 (got \(targets))") }
        guard output.lowercased().hasSuffix(".safetensors") else {
            throw ValidationError("--output must name a .safetensors file (got \(output))")
        }
    }

    func run() throws {
        let inURL = URL(fileURLWithPath: input)
        let outURL = URL(fileURLWithPath: output)
        try SafetensorsFile.checkWritable(outURL)
        guard let columns = CSVTable.firstRowFieldCount(inURL) else {
            _ = try CSVTable.read(from: inURL)  // reports why the first row cannot be read
            throw UserError("\(input): the first row cannot be read")
        }
        guard columns > targets else {
            throw UserError("\(input): line 1 has \(columns) field\(columns == 1 ? "" : "s"); "
                            + "expected at least one input column before the \(targets) target column\(targets == 1 ? "" : "s")")
        }
        let start = DispatchTime.now().uptimeNanoseconds, cpuStart = cpuSeconds()
        var data = try Dataset.loadCSV(from: inURL, features: columns - targets, target: .values(targets))
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, cpu = cpuSeconds() - cpuStart
        if targets == 1, !values, let y = data.y, y.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < 9.0e15 }) {
            let labels = y.map { Int($0) }
            data = try Dataset(store: data.store, inputShape: data.inputShape,
                               targets: .labels(labels, classes: (labels.max() ?? 0) + 1))
        }
        let xType = DType(dtype)
        try data.writeBatchFile(to: outURL, xDType: xType, metadata: [
            "source": inURL.lastPathComponent, "rows": "\(data.count)", "features": "\(data.features)",
        ])
        let size = (try? FileManager.default.attributesOfItem(atPath: input)[.size] as? Int) ?? 0
        let yText: String
        switch data.targets {
        case .labels(_, let k): yText = "y I64 [\(data.count)] (labels 0...\(k - 1))"
        case .values(_, let outs): yText = "y \(xType.rawValue) [\(data.count), \(outs)]"
        }
        print("\(output): \(data.count) samples, x \(xType.rawValue) [\(data.count), \(data.features)], \(yText)")
        print(String(format: "read %@ (%.1f MB) in %.3f s, %.3f s of CPU (%.1f MB/s per CPU second)", input,
                     Double(size) / 1e6, seconds, cpu, Double(size) / 1e6 / max(cpu, 1e-9)))
    }

    /// The CPU time this thread has used, in seconds (on a busy machine the wall time of a read
    /// says more about the other processes than about the reader).
    private func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
