import DataIO
import Foundation
import ModelSpec

/// Reading data files for a model: CSV (`features` input values, then the target column(s)) or
/// safetensors (`x`, `y`), checked against the model's input size and loss.
public enum ModelData {
    /// What the target columns hold for this model: one label for softmax cross-entropy,
    /// `outputs` values otherwise.
    public static func targetKind(_ analysis: ModelAnalysis) -> TargetKind {
        analysis.model.loss.usesLabels ? .classes(analysis.outputCount) : .values(analysis.outputCount)
    }

    /// Loads a labelled data file for `analysis`. The file type is taken from the extension
    /// (`.csv` or `.safetensors`). A column count that does not fit the model gives
    /// `TrainingError.dataDoesNotFitModel` naming the file, the expected and the found count.
    public static func load(_ url: URL, for analysis: ModelAnalysis) throws -> Dataset {
        let features = analysis.model.input.shape.elementCount
        let target = targetKind(analysis)
        switch url.pathExtension.lowercased() {
        case "csv":
            if let fast = Dataset.loadPlainCSV(url, features: features, target: target) { return fast }
            let table = try CSVTable.read(from: url)
            let found = columnCount(table)
            if found.count != features + target.columns {
                throw TrainingError.dataDoesNotFitModel(
                    file: url.path, model: analysis.model.name,
                    expected: "\(features + target.columns) columns (\(layout(features, target)))",
                    found: "\(found.count) columns (\(found.place))")
            }
            return try Dataset(csv: table, features: features, target: target)
        case "safetensors":
            return try Dataset.loadSafetensors(from: url, target: target, features: features)
        default:
            throw TrainingError.unknownDataFormat(file: url.path)
        }
    }

    /// Inputs for prediction, with targets when the file has them.
    public struct Inputs: Sendable, Equatable {
        /// `count * features` input values, row-major.
        public var x: [Double]
        /// The number of samples.
        public var count: Int
        /// The targets, when the file holds them.
        public var targets: DatasetTargets?

        /// `count` samples of inputs `x`, with `targets` when known.
        public init(x: [Double], count: Int, targets: DatasetTargets?) {
            self.x = x
            self.count = count
            self.targets = targets
        }
    }

    /// Loads a data file whose rows hold the inputs and, optionally, the targets: a CSV row may
    /// have `features` or `features + target columns` fields (the first row decides, the rest must
    /// agree); a safetensors file must hold `x` and may hold `y`.
    public static func loadInputs(_ url: URL, for analysis: ModelAnalysis) throws -> Inputs {
        let features = analysis.model.input.shape.elementCount
        let target = targetKind(analysis)
        switch url.pathExtension.lowercased() {
        case "csv":
            if let d = Dataset.loadPlainCSV(url, features: features, target: target) {
                return Inputs(x: d.x, count: d.count, targets: d.targets)
            }
            let table = try CSVTable.read(from: url)
            let found = columnCount(table)
            if found.count == features + target.columns {
                let d = try Dataset(csv: table, features: features, target: target)
                return Inputs(x: d.x, count: d.count, targets: d.targets)
            }
            guard found.count == features else {
                throw TrainingError.dataDoesNotFitModel(
                    file: url.path, model: analysis.model.name,
                    expected: "\(features) columns (input values only) or \(features + target.columns) "
                        + "(\(layout(features, target)))",
                    found: "\(found.count) columns (\(found.place))")
            }
            guard !table.rows.isEmpty else { throw DataError(file: table.source, .noDataRows) }
            var x: [Double] = []
            x.reserveCapacity(table.rows.count * features)
            for (r, row) in try table.numericRows().enumerated() {
                guard row.count == features else {
                    throw DataError(file: table.source, line: table.lineNumbers[r],
                                    .fieldCount(expected: features, found: row.count, layout: "\(features) input values"))
                }
                x += row
            }
            return Inputs(x: x, count: table.rows.count, targets: nil)
        case "safetensors":
            let file = try SafetensorsFile.read(from: url)
            if file["y"] != nil {
                let d = try Dataset(batch: file, source: url.path, target: target, features: features)
                return Inputs(x: d.x, count: d.count, targets: d.targets)
            }
            guard let xt = file["x"] else {
                throw DataError(file: url.path, .missingTensor(name: "x", available: file.names))
            }
            guard xt.shape.count >= 2, xt.shape.dropFirst().reduce(1, *) == features, xt.shape[0] >= 1 else {
                throw DataError(file: url.path, .wrongTensor(
                    name: "x", expected: "of shape [N, \(features)] (or [N, L, C] with L*C = \(features))",
                    found: "\(xt.dtype.rawValue) \(xt.shape)"))
            }
            let x = xt.asDoubles()
            if let bad = x.firstIndex(where: { !$0.isFinite }) {
                throw DataError(file: url.path, .wrongTensor(name: "x", expected: "finite",
                                                             found: "\(x[bad]) at sample \(bad / features)"))
            }
            return Inputs(x: x, count: xt.shape[0], targets: nil)
        default:
            throw TrainingError.unknownDataFormat(file: url.path)
        }
    }

    static func layout(_ features: Int, _ target: TargetKind) -> String {
        switch target {
        case .classes(let k): return "\(features) input values + 1 label in 0...\(k - 1)"
        case .values(let n): return "\(features) input values + \(n) target value\(n == 1 ? "" : "s")"
        }
    }

    /// The number of fields of the header, or of the first row, and where that was read.
    static func columnCount(_ table: CSVTable) -> (count: Int, place: String) {
        if let header = table.header { return (header.count, "in the header, line 1") }
        if let first = table.rows.first { return (first.count, "on line \(table.lineNumbers.first ?? 1)") }
        return (0, "no rows")
    }
}

/// A data set split and standardised as docs/TRAINING.md "Data pipeline" defines: shuffled with
/// `seed`, the last `round(n * validationSplit)` samples of that order for validation, the
/// standardizer fitted on the training part (when the model standardises) and applied to both.
public struct TrainingData: Sendable {
    /// The training part, standardised, in shuffled order.
    public let train: Dataset
    /// The validation part, standardised, in shuffled order (no samples when the split is 0).
    public let validation: Dataset?
    /// The statistics applied, when the model standardises.
    public let standardizer: Standardizer?

    /// Splits and standardises `data` for `model`. A given `standardizer` (from a checkpoint
    /// being resumed) is used instead of fitting one.
    public init(data: Dataset, model: Model, seed: UInt64, validationSplit: Double,
                standardizer given: Standardizer? = nil) throws {
        let split = try data.split(validationFraction: validationSplit, seed: seed)
        var train = split.train
        var validation: Dataset? = split.validation.count > 0 ? split.validation : nil
        var standardizer: Standardizer?
        if model.standardize {
            let s = try given ?? Standardizer(fitting: train)
            train = try s.apply(to: train)
            validation = try validation.map { try s.apply(to: $0) }
            standardizer = s
        }
        self.train = train
        self.validation = validation
        self.standardizer = standardizer
    }
}
