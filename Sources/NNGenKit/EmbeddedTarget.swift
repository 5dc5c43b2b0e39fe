import CodeGen
import DataIO
import Foundation
import ModelSpec

/// A problem with the embedded target's inputs or its budget: a short message naming the file or
/// flag and what was expected.
public struct EmbeddedTargetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message, without the `error: ` prefix.
    public var description: String

    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// What `nngen emit --target embedded` reads before it writes: the data set to compile in and the
/// checkpoint to start from, checked against the model, the scalar type and the size limit.
public enum EmbeddedTarget {
    /// The default limit of `--embed-data`: 1 MiB of arrays (the flash of a mid-range Cortex-M4).
    public static let defaultDataLimit = 1 << 20

    /// The rows of `url` (CSV or safetensors, as `nngen train` reads them) in the form the device
    /// trains on: the first `maxRows` rows when given, standardised when the model says so (with
    /// `standardizer`, a checkpoint's, when given; fitted on these rows otherwise). Fails with a
    /// message naming the file when the arrays would take more than `limit` bytes or hold fewer rows
    /// than one batch.
    public static func data(from url: URL, analysis: ModelAnalysis, scalar: ScalarType, maxRows: Int? = nil,
                            limit: Int = defaultDataLimit, standardizer: Standardizer? = nil) throws -> DeviceData {
        var set = try ModelData.load(url, for: analysis)
        if let n = maxRows, n < set.count {
            set = try set.subset(Array(0..<max(n, 0)))
        }
        let model = analysis.model
        let bytes = Device.dataBytes(rows: set.count, analysis: analysis, scalar: scalar)
        if bytes > limit {
            let perRow = Device.dataBytes(rows: 1, analysis: analysis, scalar: scalar)
            throw EmbeddedTargetError(
                "\(url.path): \(ByteSize.grouped(set.count)) rows take \(ByteSize.text(bytes)) as C arrays (\(perRow) bytes a row in "
                + "\(scalar.rawValue)), over the --embed-limit of \(ByteSize.text(limit)); embed at most "
                + "\(limit / perRow) rows (--embed-rows \(limit / perRow)) or raise --embed-limit")
        }
        if set.count < model.batch {
            throw EmbeddedTargetError("\(url.path): \(set.count) rows, fewer than one batch of \(model.batch) of model "
                                      + "\(model.name): the device could take no step")
        }
        if model.standardize {
            set = try (standardizer ?? Standardizer(fitting: set)).apply(to: set)
        }
        return DeviceData(x: set.x, labels: set.labels, values: set.labels == nil ? set.y : nil, rows: set.count,
                          source: url.lastPathComponent, standardized: model.standardize)
    }

    /// The parameters and standardiser of the checkpoint at `url`, in `scalar`, whose parameter
    /// tensors (names and shapes, in order) are `analysis`'s. Its model may differ otherwise (name,
    /// learning rate, optimizer, which layers train): fine-tuning starts from a model trained in
    /// full. Fails naming the file and the first tensor that differs.
    public static func parameters(from url: URL, analysis: ModelAnalysis, scalar: ScalarType) throws
        -> (parameters: [Double], standardizer: Standardizer?) {
        let checkpoint = try Checkpoint.read(from: url)
        if checkpoint.scalar != scalar {
            throw EmbeddedTargetError("\(url.path): the checkpoint holds \(checkpoint.scalar.rawValue) parameters; "
                                      + "emit with --dtype \(checkpoint.scalar.rawValue)")
        }
        let stored = try checkpoint.model.analyze(file: url.path).parameters.map { ($0.name, $0.shape) }
        let wanted = analysis.parameters.map { ($0.name, $0.shape) }
        func text(_ p: (String, [Int])?) -> String {
            p.map { "\($0.0) [\($0.1.map(String.init).joined(separator: ", "))]" } ?? "nothing"
        }
        if let i = (0..<max(stored.count, wanted.count)).first(where: { i in
            i >= stored.count || i >= wanted.count || stored[i].0 != wanted[i].0 || stored[i].1 != wanted[i].1
        }) {
            throw EmbeddedTargetError(
                "\(url.path): the checkpoint's parameters do not fit model \(analysis.model.name): tensor \(i + 1) is "
                + "\(text(i < stored.count ? stored[i] : nil)) in the checkpoint, \(text(i < wanted.count ? wanted[i] : nil)) "
                + "in the model")
        }
        return (checkpoint.parameters, checkpoint.standardizer)
    }
}

